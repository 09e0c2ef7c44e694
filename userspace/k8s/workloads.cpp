#include "k8s/workloads.h"

namespace sightline::k8s {
namespace {

// A pid's cgroup is read again after this long: pids are reused.
constexpr uint64_t kPidRefreshNs = 10'000'000'000ull;
constexpr size_t kMaxPids = 65536;

}  // namespace

Workloads::Workloads(std::string proc_root, Metadata& metadata, prometheus::Registry& registry,
                     size_t max_info_series)
    : cgroups_(std::move(proc_root), kMaxPids, kPidRefreshNs),
      metadata_(metadata),
      max_info_series_(max_info_series),
      info_(prometheus::BuildGauge()
                .Name("sightline_k8s_workload_info")
                .Help("1 for each live container sightline reports a service from: the "
                      "service_name's namespace, workload, pod and container")
                .Register(registry)),
      info_dropped_(prometheus::BuildCounter()
                        .Name("sightline_k8s_workload_info_dropped_total")
                        .Help("Containers left without a sightline_k8s_workload_info series: "
                              "past the cap of such series")
                        .Register(registry)
                        .Add({})) {}

const Workload* Workloads::Find(const Snapshot& snap, const CgroupIds& ids) const {
  if (!ids.container_id.empty()) {
    if (auto it = snap.containers.find(ids.container_id); it != snap.containers.end()) {
      return &it->second;
    }
  }
  if (!ids.pod_uid.empty()) {
    if (auto it = snap.pods.find(ids.pod_uid); it != snap.pods.end()) return &it->second;
  }
  return nullptr;
}

std::optional<Workload> Workloads::WorkloadOf(uint32_t pid, uint64_t now_ns) {
  const CgroupIds& ids = cgroups_.Get(pid, now_ns);
  if (ids.container_id.empty() && ids.pod_uid.empty()) return std::nullopt;
  auto snap = metadata_.Current();
  const Workload* w = Find(*snap, ids);
  if (w && (!w->container_name.empty() || ids.container_id.empty())) return *w;
  // A container the last list did not have (started since): list again soon.
  const std::string& id = ids.container_id.empty() ? ids.pod_uid : ids.container_id;
  if (asked_.size() >= kMaxPids) {  // bounded: start over rather than grow
    asked_.clear();
    pending_.clear();
  }
  if (asked_.insert(id).second) {
    pending_.insert(id);
    metadata_.RequestRelist();
  }
  return w ? std::optional<Workload>(*w) : std::nullopt;
}

void Workloads::Seen(uint32_t pid, const std::string& service_name, uint64_t now_ns) {
  const CgroupIds& ids = cgroups_.Get(pid, now_ns);
  if (ids.container_id.empty() && ids.pod_uid.empty()) return;
  auto snap = metadata_.Current();
  const Workload* w = Find(*snap, ids);
  if (!w) return;
  InfoKey key{ids.container_id, ids.pod_uid, service_name};
  if (series_.count(key)) return;
  if (series_.size() >= max_info_series_) {
    info_dropped_.Increment();
    return;
  }
  auto& g = info_.Add({{"service_name", service_name},
                       {"k8s_namespace_name", w->namespace_name},
                       {"k8s_workload_kind", w->kind},
                       {"k8s_workload_name", w->name},
                       {"k8s_pod_name", w->pod_name},
                       {"k8s_container_name", w->container_name}});
  g.Set(1);
  series_.emplace(std::move(key), Series{*w, &g});
}

bool Workloads::Sweep(uint64_t now_ns) {
  cgroups_.Forget(now_ns, 6 * kPidRefreshNs);
  auto snap = metadata_.Current();
  if (snap->generation == swept_generation_) return false;
  swept_generation_ = snap->generation;
  // Containers (or pods) gone from the node lose their info series; one whose
  // labels changed (its container became known) is redone at its next Seen.
  for (auto it = series_.begin(); it != series_.end();) {
    const auto& [container, pod, service] = it->first;
    const Workload* w = Find(*snap, CgroupIds{container, pod});
    const Workload& had = it->second.labels;
    if (w && w->container_name == had.container_name && w->name == had.name &&
        w->kind == had.kind && w->pod_name == had.pod_name) {
      ++it;
    } else {
      info_.Remove(it->second.gauge);
      it = series_.erase(it);
    }
  }
  const size_t before = pending_.size();
  std::erase_if(pending_, [&](const std::string& id) {
    return snap->containers.count(id) > 0 || snap->pods.count(id) > 0;
  });
  return pending_.size() != before;
}

process::ProcessTable::WorkloadResolver PodResolver(Workloads& workloads,
                                                    std::function<uint64_t()> clock) {
  return [&workloads, clock = std::move(clock)](uint32_t pid)
             -> std::optional<process::PodIdentity> {
    auto w = workloads.WorkloadOf(pid, clock());
    if (!w) return std::nullopt;
    return process::PodIdentity{w->name, w->namespace_name, w->pod_name, w->container_name};
  };
}

}  // namespace sightline::k8s
