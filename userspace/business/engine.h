// The business metrics themselves: one budgeted counter or gauge family per
// rule, the bounds on their label values, and sightline's own accounting of
// what rules could not read or had to fold. Rules can be swapped (SIGHUP):
// a metric whose definition did not change keeps its series.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "business/extract.h"
#include "business/rules.h"
#include "metrics/series_budget.h"

namespace sightline::business {

// How a followed exchange ended, as counted in
// sightline_business_exchanges_total{outcome}.
enum class Outcome : uint8_t {
  kFollowed,  // a rule may need it: its bodies were read
  kShed,      // a rule may have needed it, but max_in_flight were followed already
  kReloaded,  // the rules changed while it was in flight: not evaluated
};

class Engine {
 public:
  // `dropped` is sightline_series_dropped_total; `series_budget` caps each family.
  Engine(prometheus::Registry& registry, prometheus::Family<prometheus::Counter>& dropped,
         size_t series_budget);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Makes `rules` the rules in force.
  void Install(RuleSet rules);
  const RuleSet& rules() const { return *rules_; }

  // One match of rule `index` in the service `service` labels (service_name
  // and its k8s_* labels): `labels` holds a value per label of the rule
  // (nullopt when it could not be read: "unknown"), bounded here. Counters
  // grow by `value`, gauges are set to it.
  void Record(size_t index, const prometheus::Labels& service,
              std::vector<std::optional<std::string>> labels, double value);
  void CountError(size_t index, Reason reason);
  void CountExchange(Outcome outcome);
  void CountReload(bool ok);

 private:
  struct Metric;

  std::unique_ptr<Metric> Make(const Rule& rule);
  std::string Bound(Metric& m, const LabelRule& rule, size_t label, std::optional<std::string> raw,
                    size_t index);

  prometheus::Registry& registry_;
  prometheus::Family<prometheus::Counter>& dropped_;
  size_t series_budget_;
  std::unique_ptr<const RuleSet> rules_;
  std::vector<std::unique_ptr<Metric>> metrics_;  // by rule index

  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Counter>& exchanges_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Gauge& loaded_;
  std::array<prometheus::Counter*, 3> outcome_counters_{};
};

}  // namespace sightline::business
