// The daemon's own process metrics (process_* without labels), read from
// /proc/self at every scrape, so an operator can see what observing the host
// costs: CPU time, memory, file descriptors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace sightline::metrics {

class ProcessCollector : public prometheus::Collectable {
 public:
  // Reads the process start time once; it does not change.
  ProcessCollector();

  // process_cpu_seconds_total (counter), process_resident_memory_bytes,
  // process_virtual_memory_bytes, process_open_fds, process_max_fds,
  // process_start_time_seconds (gauges). A value that cannot be read is
  // left out of that scrape rather than reported as zero.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::optional<double> start_time_seconds_;
};

}  // namespace sightline::metrics
