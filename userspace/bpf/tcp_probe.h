// The TCP health probe (bpf/tcp.bpf.c): per-process TCP counters kept by the
// kernel in a map keyed by tgid, read by userspace about once a second.
// Owned RAII-style; destroying it detaches every program.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "bpf/libbpf_setup.h"
#include "bpf/socket_probe.h"
#include "sightline/bpf/tcp.h"

struct tcp_bpf;
struct bpf_link;

namespace sightline::bpf {

// What the TCP metrics need from the kernel side; tests implement it
// without BPF.
class TcpStatsReader {
 public:
  virtual ~TcpStatsReader() = default;
  // Every process's cumulative counters, as the kernel has them now.
  virtual std::vector<std::pair<uint32_t, sl_tcp_stats>> ReadStats() = 0;
  // Removes a process's entry and returns its last value (nullopt when
  // there is none), so counts that arrived since ReadStats are not lost.
  virtual std::optional<sl_tcp_stats> TakeStats(uint32_t tgid) = 0;
  // Cumulative kernel counters summed over CPUs, indexed by enum sl_tcp_counter.
  virtual std::array<uint64_t, SL_TCP_CNT_MAX> ReadCounters() = 0;
};

struct TcpProbeConfig {
  uint32_t self_tgid = 0;
  uint32_t max_sockets = 131072;   // sockets whose owner is remembered
  uint32_t max_processes = 16384;  // processes with counters
  bool filter_pids = false;        // --pids given: the socket probe's pid_allow map applies
};

class TcpProbe : public TcpStatsReader {
 public:
  // open -> configure (sharing the socket probe's process filters) -> load ->
  // attach. Throws std::runtime_error naming the step, program or map that
  // failed, with strerror.
  TcpProbe(const TcpProbeConfig& config, const SocketProbe& sockets);
  ~TcpProbe() override;
  TcpProbe(const TcpProbe&) = delete;
  TcpProbe& operator=(const TcpProbe&) = delete;

  std::vector<std::pair<uint32_t, sl_tcp_stats>> ReadStats() override;
  std::optional<sl_tcp_stats> TakeStats(uint32_t tgid) override;
  std::array<uint64_t, SL_TCP_CNT_MAX> ReadCounters() override;
  std::vector<ProgramStats> ReadProgramStats() const;

  size_t program_count() const { return links_.size(); }

 private:
  void Release();

  tcp_bpf* skel_ = nullptr;
  std::vector<bpf_link*> links_;
};

}  // namespace sightline::bpf
