// The daemon's own health as sightline_* metrics: what it received, what it
// lost and why, what it truncated, and how its probes and tracker are doing.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "bpf/socket_probe.h"
#include "conn/tracker.h"
#include "decode/event.h"

namespace sightline::metrics {

class SelfMetrics {
 public:
  explicit SelfMetrics(prometheus::Registry& registry);

  void SetProbeStatus(const std::string& probe, bool attached);

  // Hot path: one cached counter increment each.
  void CountEvent(const decode::Event& e);

  // Periodic: copies cumulative sources into counters (by delta) and gauges.
  void UpdateKernel(const std::string& probe, const std::array<uint64_t, SL_CNT_MAX>& counters,
                    const std::vector<bpf::ProgramStats>& programs);
  void UpdateTracker(const conn::TrackerStats& s, size_t tracked, size_t buffered_bytes);

 private:
  // A counter that mirrors a cumulative value read from elsewhere.
  class Mirror {
   public:
    explicit Mirror(prometheus::Counter& c, double scale) : counter_(&c), scale_(scale) {}
    void Set(uint64_t cumulative) {
      if (cumulative > last_) counter_->Increment(double(cumulative - last_) * scale_);
      last_ = cumulative;
    }

   private:
    prometheus::Counter* counter_;
    double scale_;
    uint64_t last_ = 0;
  };
  void Mirrored(prometheus::Family<prometheus::Counter>& family, const prometheus::Labels& labels,
                uint64_t cumulative, double scale = 1.0);

  prometheus::Family<prometheus::Gauge>& build_info_;
  prometheus::Family<prometheus::Gauge>& probe_status_;
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Counter>& lost_;
  prometheus::Family<prometheus::Counter>& truncated_events_;
  prometheus::Family<prometheus::Counter>& truncated_bytes_;
  prometheus::Family<prometheus::Counter>& connections_;
  prometheus::Family<prometheus::Counter>& connections_shed_;
  prometheus::Family<prometheus::Counter>& stream_;
  prometheus::Family<prometheus::Gauge>& tracked_;
  prometheus::Family<prometheus::Gauge>& buffered_;
  prometheus::Family<prometheus::Counter>& probe_runs_;
  prometheus::Family<prometheus::Counter>& probe_run_seconds_;

  std::array<prometheus::Counter*, 6> event_counters_{};  // indexed like decode::Event
  std::map<std::pair<void*, prometheus::Labels>, Mirror> mirrors_;
  std::map<std::string, prometheus::Counter*> decode_errors_;
};

}  // namespace sightline::metrics
