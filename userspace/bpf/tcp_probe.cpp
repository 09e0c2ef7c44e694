#include "bpf/tcp_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "tcp.skel.h"

namespace sightline::bpf {
namespace {

[[noreturn]] void Fail(const std::string& what, int err) {
  throw std::runtime_error("tcp probe: " + what + ": " + std::strerror(err < 0 ? -err : err));
}

}  // namespace

TcpProbe::TcpProbe(const TcpProbeConfig& config, const SocketProbe& sockets) {
  skel_ = tcp_bpf__open();
  if (!skel_) Fail("opening skeleton", errno);
  try {
    skel_->rodata->self_tgid = config.self_tgid;
    skel_->rodata->filter_pids = config.filter_pids;
    if (int err = bpf_map__set_max_entries(skel_->maps.owners, config.max_sockets)) {
      Fail("resizing map owners", err);
    }
    if (int err = bpf_map__set_max_entries(skel_->maps.tcp_stats, config.max_processes)) {
      Fail("resizing map tcp_stats", err);
    }
    // --pids and the executables ruled out apply here as they do to sockets.
    SharedMaps shared = sockets.shared_maps();
    const std::pair<bpf_map*, bpf_map*> reuse[] = {
        {skel_->maps.pid_allow, shared.pid_allow},
        {skel_->maps.tgid_ignore, shared.tgid_ignore},
    };
    for (auto [mine, theirs] : reuse) {
      if (int err = bpf_map__reuse_fd(mine, bpf_map__fd(theirs))) {
        Fail(std::string("sharing map ") + bpf_map__name(mine), err);
      }
    }
    if (int err = tcp_bpf__load(skel_)) {
      Fail("loading programs (the verifier log above says why)", err);
    }
    // One by one, so a failure names its program.
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
      bpf_link* link = bpf_program__attach(prog);
      if (!link) {
        int err = errno;
        Fail(std::string("attaching ") + bpf_program__name(prog) + " to " +
                 bpf_program__section_name(prog),
             err);
      }
      links_.push_back(link);
    }
  } catch (...) {
    Release();
    throw;
  }
}

TcpProbe::~TcpProbe() { Release(); }

void TcpProbe::Release() {
  for (bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
  if (skel_) tcp_bpf__destroy(skel_);
  skel_ = nullptr;
}

std::vector<std::pair<uint32_t, sl_tcp_stats>> TcpProbe::ReadStats() {
  std::vector<std::pair<uint32_t, sl_tcp_stats>> out;
  const bpf_map* map = skel_->maps.tcp_stats;
  uint32_t key = 0, next = 0;
  const void* prev = nullptr;
  std::unordered_set<uint32_t> seen;
  // Only the kernel writes during the walk, and it only adds keys; should a
  // walk still restart (a key gone under it), the seen set ends it.
  while (bpf_map__get_next_key(map, prev, &next, sizeof(next)) == 0) {
    key = next;
    prev = &key;
    if (!seen.insert(key).second) break;
    sl_tcp_stats s;
    if (bpf_map__lookup_elem(map, &key, sizeof(key), &s, sizeof(s), 0) != 0) continue;
    out.emplace_back(key, s);
  }
  return out;
}

std::optional<sl_tcp_stats> TcpProbe::TakeStats(uint32_t tgid) {
  sl_tcp_stats s;
  if (bpf_map__lookup_and_delete_elem(skel_->maps.tcp_stats, &tgid, sizeof(tgid), &s, sizeof(s),
                                      0) == 0) {
    return s;
  }
  // Kernels before 5.14 cannot do both at once on a hash map.
  if (bpf_map__lookup_elem(skel_->maps.tcp_stats, &tgid, sizeof(tgid), &s, sizeof(s), 0) != 0) {
    return std::nullopt;
  }
  bpf_map__delete_elem(skel_->maps.tcp_stats, &tgid, sizeof(tgid), 0);
  return s;
}

std::array<uint64_t, SL_TCP_CNT_MAX> TcpProbe::ReadCounters() {
  std::array<uint64_t, SL_TCP_CNT_MAX> out{};
  auto sums = SumPerCpuCounters(skel_->maps.tcp_counters, SL_TCP_CNT_MAX);
  std::copy(sums.begin(), sums.end(), out.begin());
  return out;
}

std::vector<ProgramStats> TcpProbe::ReadProgramStats() const {
  return bpf::ReadProgramStats(skel_->obj);
}

}  // namespace sightline::bpf
