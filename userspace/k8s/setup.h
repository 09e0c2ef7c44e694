// Wiring of the Kubernetes metadata into the daemon: nothing runs outside a
// cluster; inside one, a listing thread and the process table's resolver.
#pragma once

#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <string>

#include "config/options.h"
#include "k8s/api_client.h"
#include "k8s/metadata.h"
#include "k8s/workloads.h"
#include "process/process_table.h"

namespace sightline::k8s {

class K8sStack {
 public:
  using Clock = uint64_t (*)();
  // nullptr when --k8s-metadata is off or the daemon is not in a cluster (no
  // --k8s-api-url, no KUBERNETES_SERVICE_HOST). Otherwise starts listing and
  // names `processes` after their workloads from now on.
  static std::unique_ptr<K8sStack> Create(const config::Options& o, prometheus::Registry& registry,
                                          process::ProcessTable& processes, Clock clock);

  Workloads& workloads() { return *workloads_; }
  // Every second from the main loop.
  void Sweep(uint64_t now_ns);

 private:
  K8sStack() = default;
  process::ProcessTable* processes_ = nullptr;
  std::unique_ptr<ApiClient> client_;
  std::unique_ptr<Metadata> metadata_;
  std::unique_ptr<Workloads> workloads_;
};

// This process's pid as `proc_root` sees it: the host's pid when the host's
// /proc is mounted there, even from a pid namespace of the daemon's own
// (procfs resolves "self" in the pid namespace it was mounted from). The
// kernel probes report host pids, so this is the pid they must skip.
uint32_t SelfPid(const std::string& proc_root);

// Whether `pid` (as `proc_root` sees it) is alive. kill(pid, 0) cannot tell
// from another pid namespace.
bool PidAlive(const std::string& proc_root, uint32_t pid);

}  // namespace sightline::k8s
