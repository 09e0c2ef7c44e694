// The main loop's side of the Kubernetes metadata: which workload a process
// belongs to (its cgroup's container id looked up in the latest snapshot), for
// service names, and sightline_k8s_workload_info, which says which namespace,
// pod and container each service_name runs in so queries can join on it.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "k8s/cgroup.h"
#include "k8s/metadata.h"
#include "process/process_table.h"

namespace sightline::k8s {

class Workloads {
 public:
  // `proc_root`: where the host's /proc is mounted. Main loop only, but for
  // the metadata (its own thread) and the metrics (the scrape thread).
  Workloads(std::string proc_root, Metadata& metadata, prometheus::Registry& registry,
            size_t max_info_series = 4096);

  // The workload and pod the process runs in, or nullopt: not in a pod the
  // API listed (an unknown container asks for an early re-list).
  std::optional<Workload> WorkloadOf(uint32_t pid, uint64_t now_ns);

  // The process is now reported as `service_name`: its container gets a
  // sightline_k8s_workload_info series.
  void Seen(uint32_t pid, const std::string& service_name, uint64_t now_ns);

  // Every second or so: drops info series of containers gone from the node
  // and stale pid entries. True when a new snapshot arrived that knows a
  // container that was unknown when asked: names are worth reading again.
  bool Sweep(uint64_t now_ns);

 private:
  const Workload* Find(const Snapshot& snap, const CgroupIds& ids) const;

  // The process's cgroup ids (container id, pod uid) and its service name.
  using InfoKey = std::tuple<std::string, std::string, std::string>;
  CgroupCache cgroups_;
  Metadata& metadata_;
  size_t max_info_series_;
  prometheus::Family<prometheus::Gauge>& info_;
  prometheus::Counter& info_dropped_;
  struct Series {
    Workload labels;  // as exported: redone when the snapshot says otherwise
    prometheus::Gauge* gauge;
  };
  std::map<InfoKey, Series> series_;
  // Containers unknown to the snapshot when asked about: each asks for one
  // early re-list only (a pod's sandbox never shows in its statuses), and
  // names are read again once a snapshot knows one of them.
  std::unordered_set<std::string> asked_;
  std::unordered_set<std::string> pending_;
  uint64_t swept_generation_ = 0;
};

// The process table's view of `workloads`: the pod a process runs in.
process::ProcessTable::WorkloadResolver PodResolver(Workloads& workloads,
                                                    std::function<uint64_t()> clock);

}  // namespace sightline::k8s
