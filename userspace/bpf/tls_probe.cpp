#include "bpf/tls_probe.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "tls.skel.h"

namespace sightline::bpf {
namespace {

[[noreturn]] void Fail(const std::string& what, int err) {
  throw std::runtime_error("tls probe: " + what + ": " + std::strerror(err < 0 ? -err : err));
}

}  // namespace

TlsProbe::TlsProbe(const TlsProbeConfig& config, const SocketProbe& sockets) {
  skel_ = tls_bpf__open();
  if (!skel_) Fail("opening skeleton", errno);
  try {
    skel_->rodata->self_tgid = config.self_tgid;
    skel_->rodata->capture_size = config.capture_size;
    skel_->rodata->filter_pids = config.filter_pids;
    skel_->rodata->wakeup_bytes = std::min<uint32_t>(config.ring_buffer_size / 8, 256u << 10);
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) Fail("counting possible CPUs", cpus);
    if (int err = bpf_map__set_max_entries(skel_->maps.tls_scratch, cpus)) {
      Fail("resizing map tls_scratch", err);
    }
    // One ring, one fd table, one view of TLS sessions with the socket probe.
    SharedMaps shared = sockets.shared_maps();
    const std::pair<bpf_map*, bpf_map*> reuse[] = {
        {skel_->maps.events, shared.events},
        {skel_->maps.fds, shared.fds},
        {skel_->maps.tls_threads, shared.tls_threads},
        {skel_->maps.tls_sessions, shared.tls_sessions},
        {skel_->maps.pid_allow, shared.pid_allow},
        {skel_->maps.tgid_ignore, shared.tgid_ignore},
    };
    for (auto [mine, theirs] : reuse) {
      if (int err = bpf_map__reuse_fd(mine, bpf_map__fd(theirs))) {
        Fail(std::string("sharing map ") + bpf_map__name(mine), err);
      }
    }
    if (int err = tls_bpf__load(skel_))
      Fail("loading programs (the verifier log above says why)", err);
    exec_link_ = bpf_program__attach(skel_->progs.sl_process_exec);
    if (!exec_link_) Fail("attaching sl_process_exec", errno);
  } catch (...) {
    Release();
    throw;
  }
}

TlsProbe::~TlsProbe() { Release(); }

void TlsProbe::Release() {
  for (auto& [h, links] : attached_) {
    for (bpf_link* l : links) bpf_link__destroy(l);
  }
  attached_.clear();
  if (exec_link_) bpf_link__destroy(exec_link_);
  exec_link_ = nullptr;
  if (skel_) tls_bpf__destroy(skel_);
  skel_ = nullptr;
}

TlsProbe::Handle TlsProbe::Attach(const std::string& path, const std::vector<UprobeSpec>& specs,
                                  std::string* error) {
  std::vector<bpf_link*> links;
  for (const UprobeSpec& s : specs) {
    bpf_program* prog = nullptr;
    bool ret = false;
    switch (s.hook) {
      case TlsHook::kSslWrite:
        prog = skel_->progs.sl_ssl_write;
        break;
      case TlsHook::kSslRead:
        prog = skel_->progs.sl_ssl_read;
        break;
      case TlsHook::kSslWriteEx:
        prog = skel_->progs.sl_ssl_write_ex;
        break;
      case TlsHook::kSslReadEx:
        prog = skel_->progs.sl_ssl_read_ex;
        break;
      case TlsHook::kSslReturn:
        prog = skel_->progs.sl_ssl_return;
        ret = true;
        break;
      case TlsHook::kSslFree:
        prog = skel_->progs.sl_ssl_free;
        break;
      case TlsHook::kGoWrite:
        prog = skel_->progs.sl_go_write;
        break;
      case TlsHook::kGoRead:
        prog = skel_->progs.sl_go_read;
        break;
      case TlsHook::kGoReturn:
        prog = skel_->progs.sl_go_return;
        break;
    }
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret);
    bpf_link* link = bpf_program__attach_uprobe_opts(prog, -1, path.c_str(), s.offset, &opts);
    if (!link) {
      int err = errno;
      if (error) {
        *error = std::string("attaching ") + bpf_program__name(prog) + " at offset " +
                 std::to_string(s.offset) + ": " + std::strerror(err);
      }
      for (bpf_link* l : links) bpf_link__destroy(l);
      return 0;
    }
    links.push_back(link);
  }
  Handle h = next_++;
  attached_[h] = std::move(links);
  return h;
}

void TlsProbe::Detach(Handle h) {
  auto it = attached_.find(h);
  if (it == attached_.end()) return;
  for (bpf_link* l : it->second) bpf_link__destroy(l);
  attached_.erase(it);
}

std::array<uint64_t, SL_TLS_CNT_MAX> TlsProbe::ReadCounters() const {
  std::array<uint64_t, SL_TLS_CNT_MAX> out{};
  auto sums = SumPerCpuCounters(skel_->maps.tls_counters, SL_TLS_CNT_MAX);
  std::copy(sums.begin(), sums.end(), out.begin());
  return out;
}

std::vector<ProgramStats> TlsProbe::ReadProgramStats() const {
  return bpf::ReadProgramStats(skel_->obj);
}

}  // namespace sightline::bpf
