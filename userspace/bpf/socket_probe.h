// The socket probe (bpf/sockets.bpf.c): skeleton lifecycle, ring buffer and
// kernel counters, owned RAII-style. Destroying it detaches every program.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bpf/libbpf_setup.h"
#include "sightline/bpf/sockets.h"

struct sockets_bpf;
struct ring_buffer;
struct bpf_link;
struct bpf_map;

namespace sightline::bpf {

struct SocketProbeConfig {
  uint32_t self_tgid = 0;
  uint32_t capture_size = 4096;
  uint32_t ring_buffer_size = 16u << 20;
  uint32_t max_tracked_fds = 131072;
  std::vector<uint32_t> pids;
  std::vector<uint16_t> ports;
  std::vector<uint16_t> exclude_ports;
};

// Maps the socket probe creates and the TLS probe is loaded with.
struct SharedMaps {
  bpf_map* events;
  bpf_map* fds;
  bpf_map* tls_threads;
  bpf_map* tls_sessions;
  bpf_map* pid_allow;
  bpf_map* tgid_ignore;
};

using EventHandler = std::function<void(std::span<const std::byte>)>;

class SocketProbe {
 public:
  // open -> configure -> load -> attach. Throws std::runtime_error naming the
  // step, program or map that failed, with strerror.
  SocketProbe(const SocketProbeConfig& config, EventHandler handler);
  ~SocketProbe();
  SocketProbe(const SocketProbe&) = delete;
  SocketProbe& operator=(const SocketProbe&) = delete;

  // Waits up to timeout_ms for a wakeup, then drains whatever is in the ring
  // (wakeups are batched in the kernel, so a quiet ring is drained on the timer).
  // Returns the number of events handled, or -errno.
  int Poll(int timeout_ms);

  // Cumulative kernel counters summed over CPUs, indexed by enum sl_counter.
  std::array<uint64_t, SL_CNT_MAX> ReadCounters() const;
  std::vector<ProgramStats> ReadProgramStats() const;

  // Stops the kernel from tracking new connections of this process.
  void IgnoreTgid(uint32_t tgid);
  void UnignoreTgid(uint32_t tgid);

  size_t program_count() const;
  SharedMaps shared_maps() const;

 private:
  void Configure(const SocketProbeConfig& config);
  void Release();
  static int OnSample(void* ctx, void* data, size_t size);

  sockets_bpf* skel_ = nullptr;
  std::vector<bpf_link*> links_;
  ring_buffer* ring_ = nullptr;
  EventHandler handler_;
  int handled_ = 0;
};

}  // namespace sightline::bpf
