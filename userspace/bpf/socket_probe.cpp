#include "bpf/socket_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "bpf/libbpf_setup.h"
#include "sockets.skel.h"

namespace sightline::bpf {
namespace {

[[noreturn]] void Fail(const std::string& what, int err) {
  throw std::runtime_error("socket probe: " + what + ": " + std::strerror(err < 0 ? -err : err));
}

void CheckResize(int err, const char* map) {
  if (err) Fail(std::string("resizing map ") + map, err);
}

template <typename K>
void FillSet(bpf_map* map, const std::vector<K>& keys) {
  const uint8_t one = 1;
  for (const K& k : keys) {
    if (bpf_map__update_elem(map, &k, sizeof(k), &one, sizeof(one), BPF_ANY)) {
      Fail(std::string("filling map ") + bpf_map__name(map), errno);
    }
  }
}

}  // namespace

SocketProbe::SocketProbe(const SocketProbeConfig& config, EventHandler handler)
    : handler_(std::move(handler)) {
  skel_ = sockets_bpf__open();
  if (!skel_) Fail("opening skeleton", errno);
  try {
    Configure(config);
  } catch (...) {
    Release();
    throw;
  }
}

void SocketProbe::Configure(const SocketProbeConfig& config) {

  skel_->rodata->self_tgid = config.self_tgid;
  skel_->rodata->capture_size = config.capture_size;
  // Wake the reader in bursts small enough not to stall the observed
  // services it shares CPUs with, but far apart enough to batch.
  skel_->rodata->wakeup_bytes = std::min<uint32_t>(config.ring_buffer_size / 8, 256u << 10);
  skel_->rodata->filter_pids = !config.pids.empty();
  skel_->rodata->filter_ports = !config.ports.empty();
  skel_->rodata->deny_ports = !config.exclude_ports.empty();

  CheckResize(bpf_map__set_max_entries(skel_->maps.events, config.ring_buffer_size), "events");
  CheckResize(bpf_map__set_max_entries(skel_->maps.fds, config.max_tracked_fds), "fds");
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) Fail("counting possible CPUs", cpus);
  CheckResize(bpf_map__set_max_entries(skel_->maps.scratch, cpus), "scratch");

  if (int err = sockets_bpf__load(skel_)) {
    Fail("loading programs (the verifier log above says why)", err);
  }
  FillSet(skel_->maps.pid_allow, config.pids);
  FillSet(skel_->maps.port_allow, config.ports);
  FillSet(skel_->maps.port_deny, config.exclude_ports);

  // Attach one by one so a failure names its program.
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      int err = errno;
      Fail(std::string("attaching ") + bpf_program__name(prog) + " to " +
               bpf_program__section_name(prog), err);
    }
    links_.push_back(link);
  }

  ring_ = ring_buffer__new(bpf_map__fd(skel_->maps.events), &SocketProbe::OnSample, this, nullptr);
  if (!ring_) Fail("creating ring buffer reader", errno);
}

SocketProbe::~SocketProbe() { Release(); }

void SocketProbe::Release() {
  if (ring_) ring_buffer__free(ring_);
  ring_ = nullptr;
  for (bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
  if (skel_) sockets_bpf__destroy(skel_);
  skel_ = nullptr;
}

int SocketProbe::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<SocketProbe*>(ctx);
  self->handler_(std::span<const std::byte>(static_cast<const std::byte*>(data), size));
  self->handled_++;
  return 0;
}

int SocketProbe::Poll(int timeout_ms) {
  handled_ = 0;
  int err = ring_buffer__poll(ring_, timeout_ms);
  if (err < 0 && err != -EINTR) return err;
  // A wakeup may not have come: the kernel wakes us only past a fill level.
  err = ring_buffer__consume(ring_);
  if (err < 0 && err != -EINTR) return err;
  return handled_;
}

std::array<uint64_t, SL_CNT_MAX> SocketProbe::ReadCounters() const {
  std::array<uint64_t, SL_CNT_MAX> out{};
  auto sums = SumPerCpuCounters(skel_->maps.sl_counters, SL_CNT_MAX);
  std::copy(sums.begin(), sums.end(), out.begin());
  return out;
}

std::vector<ProgramStats> SocketProbe::ReadProgramStats() const {
  return bpf::ReadProgramStats(skel_->obj);
}

SharedMaps SocketProbe::shared_maps() const {
  return {skel_->maps.events,       skel_->maps.fds,       skel_->maps.tls_threads,
          skel_->maps.tls_sessions, skel_->maps.pid_allow, skel_->maps.tgid_ignore};
}

void SocketProbe::IgnoreTgid(uint32_t tgid) {
  const uint8_t one = 1;
  // Best effort: a full map only means the kernel keeps sending events that
  // userspace then drops.
  bpf_map__update_elem(skel_->maps.tgid_ignore, &tgid, sizeof(tgid), &one, sizeof(one), BPF_ANY);
}

void SocketProbe::UnignoreTgid(uint32_t tgid) {
  bpf_map__delete_elem(skel_->maps.tgid_ignore, &tgid, sizeof(tgid), 0);
}

size_t SocketProbe::program_count() const { return links_.size(); }

}  // namespace sightline::bpf
