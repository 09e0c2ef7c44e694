// The daemon's own health as sightline_* metrics: what it received, what it
// lost and why, what it truncated, and how its probes and tracker are doing.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bpf/socket_probe.h"
#include "bpf/tcp_probe.h"
#include "bpf/tls_probe.h"
#include "conn/tracker.h"
#include "decode/event.h"
#include "genai/accountant.h"
#include "tls/tls_manager.h"

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
  void UpdateTlsKernel(const std::array<uint64_t, SL_TLS_CNT_MAX>& counters,
                       const std::vector<bpf::ProgramStats>& programs);
  // The TCP probe's lost events (counters as TcpMetrics::Sweep read them).
  void UpdateTcpKernel(const std::array<uint64_t, SL_TCP_CNT_MAX>& counters,
                       const std::vector<bpf::ProgramStats>& programs);
  void UpdateTlsVisibility(const tls::ManagerSummary& summary);
  void UpdateTracker(const conn::TrackerStats& s, size_t tracked, size_t buffered_bytes);
  void UpdateGenAi(const genai::AccountantStats& s, size_t in_flight);

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
  // Run counts and times per program; returns the runs the kernel skipped.
  uint64_t MirrorPrograms(const std::string& probe, const std::vector<bpf::ProgramStats>& programs);
  // Sets the gauges in `values`; label sets that disappeared go to zero.
  void SetGauges(prometheus::Family<prometheus::Gauge>& family,
                 const std::map<prometheus::Labels, double>& values);

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
  prometheus::Family<prometheus::Gauge>& tls_processes_;
  prometheus::Family<prometheus::Gauge>& tls_binaries_;
  prometheus::Family<prometheus::Counter>& tls_connections_;
  prometheus::Family<prometheus::Counter>& tls_attach_failures_;
  prometheus::Family<prometheus::Counter>& tls_filtered_;
  prometheus::Family<prometheus::Counter>& genai_exchanges_;
  prometheus::Family<prometheus::Counter>& genai_body_errors_;
  prometheus::Family<prometheus::Gauge>& genai_in_flight_;
  uint64_t http2_kernel_ = 0;  // connections_total{event="http2"} sums two sources
  uint64_t http2_tls_ = 0;

  std::array<prometheus::Counter*, std::variant_size_v<decode::Event>> event_counters_{};  // indexed like decode::Event
  std::map<std::pair<void*, prometheus::Labels>, Mirror> mirrors_;
  std::map<std::string, prometheus::Counter*> decode_errors_;
  std::map<void*, std::set<prometheus::Labels>> gauge_labels_;
};

}  // namespace sightline::metrics
