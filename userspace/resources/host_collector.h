// Host resource metrics named after the OpenTelemetry host-metrics semantic
// conventions (system_cpu_*, system_memory_*, system_filesystem_*,
// system_disk_*, system_network_*, system_load_average_*), read from /proc and
// statvfs(3) at every scrape.
#pragma once

#include <sys/statvfs.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace sightline::resources {

class HostCollector : public prometheus::Collectable {
 public:
  // statvfs(3) of a mount point; returns false when it cannot be read.
  using StatFs = std::function<bool(const std::string& mountpoint, struct statvfs* out)>;

  // `proc_root` is where procfs is mounted; `statfs` defaults to ::statvfs and
  // is replaceable for tests. Reads /proc/stat once, as the baseline of the
  // first system_cpu_utilization_ratio.
  explicit HostCollector(std::string proc_root = "/proc", StatFs statfs = nullptr);

  // Every family whose source file can be read and parsed; a file that cannot
  // be read gives no series, and a malformed line is skipped. Never throws.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Aggregate CPU ticks of /proc/stat's first line, in its order.
  struct CpuTicks {
    // user, nice, system, idle, iowait, irq, softirq, steal
    uint64_t state[8] = {};
    uint64_t Total() const;
    uint64_t Busy() const;  // total minus idle and iowait
  };

  // The same readings for alert signals, without moving the CPU baseline of
  // the scrape: cumulative CPU ticks, memory utilisation and that of the
  // fullest filesystem. Never throws.
  struct Reading {
    std::optional<CpuTicks> cpu;
    std::optional<double> memory_utilization;
    std::optional<double> max_filesystem_utilization;
  };
  Reading Read() const;

 private:
  std::string proc_root_;
  StatFs statfs_;
  mutable std::mutex mu_;
  mutable std::optional<CpuTicks> previous_cpu_;
};

}  // namespace sightline::resources
