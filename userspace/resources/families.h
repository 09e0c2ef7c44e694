// Building the metric families the /proc collectors hand to the exposer.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <string>
#include <utility>
#include <vector>

namespace sightline::resources {

using FamilyLabels = std::vector<std::pair<std::string, std::string>>;

inline prometheus::MetricFamily NewFamily(std::string name, std::string help,
                                          prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

// One sample of the family's type (counter, untyped, else gauge).
inline void Add(prometheus::MetricFamily& f, const FamilyLabels& labels, double value) {
  prometheus::ClientMetric m;
  for (const auto& [name, v] : labels) {
    prometheus::ClientMetric::Label l;
    l.name = name;
    l.value = v;
    m.label.push_back(std::move(l));
  }
  if (f.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else if (f.type == prometheus::MetricType::Untyped) {
    m.untyped.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

}  // namespace sightline::resources
