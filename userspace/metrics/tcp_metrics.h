// TCP health per service: turns the per-process counters the TCP probe keeps
// in the kernel into tcp_* counters labelled by service_name.
//
// Once a second (on the main loop: the process table is not thread safe) it
// reads every process's cumulative counters, adds what grew since the last
// read to the process's service, and for processes that are gone takes the
// entry out of the kernel map with its final value, so nothing counted
// before or around an exit is lost.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <functional>
#include <unordered_map>

#include "bpf/tcp_probe.h"
#include "metrics/series_budget.h"
#include "process/process_table.h"
#include "sightline/bpf/tcp.h"

namespace sightline::metrics {

class TcpMetrics {
 public:
  // `alive(tgid)` says whether a process still exists.
  TcpMetrics(prometheus::Registry& registry, prometheus::Family<prometheus::Counter>& dropped,
             process::ProcessTable& processes, size_t series_budget,
             std::function<bool(uint32_t)> alive);

  // Reads the kernel side and updates every counter. Returns the probe's
  // kernel counters as read, for its lost events (SelfMetrics::UpdateTcpKernel).
  std::array<uint64_t, SL_TCP_CNT_MAX> Sweep(bpf::TcpStatsReader& reader, uint64_t now_ns);

  // Processes whose last counters are remembered (for tests and bounds).
  size_t tracked_processes() const { return last_.size(); }

 private:
  void Add(uint32_t tgid, const sl_tcp_stats& delta, uint64_t now_ns);

  process::ProcessTable& processes_;
  std::function<bool(uint32_t)> alive_;

  BudgetedCounter opened_;
  BudgetedCounter closed_;
  BudgetedCounter failures_;
  BudgetedCounter retransmits_;
  BudgetedCounter resets_;
  prometheus::Family<prometheus::Counter>& unattributed_;

  std::unordered_map<uint32_t, sl_tcp_stats> last_;  // per tgid, as last read
  struct Unattributed {
    prometheus::Counter* counter = nullptr;  // nullptr: not an unattributed event
    uint64_t last = 0;
  };
  std::array<Unattributed, SL_TCP_CNT_MAX> unattributed_counters_{};
};

// Field-wise a - b for cumulative counters; a field that went down (an entry
// recreated after it was taken) counts from zero.
sl_tcp_stats TcpStatsDelta(const sl_tcp_stats& a, const sl_tcp_stats& b);

}  // namespace sightline::metrics
