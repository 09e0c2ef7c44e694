// What the daemon knows about observed processes: service name and
// executable, read from /proc and cached. Entries are re-read after a while
// (a pid may be reused or exec another program) and kept when the process is
// gone, so a short-lived client is still named after it exits.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <unordered_map>

#include "process/identity_labels.h"

namespace sightline::process {

// Where a process runs in Kubernetes: its pod as the API listed it.
struct PodIdentity {
  std::string workload;        // the owning workload's name (a Deployment's, ...)
  std::string namespace_name;
  std::string pod_name;
  std::string container_name;  // "" when only the pod is known
};

struct ProcessInfo {
  std::string service_name;
  std::string exe_path;  // empty when unreadable
  std::optional<PodIdentity> pod;  // in a pod the API listed
  // What every per-service series starts from: service_name and, in a pod,
  // k8s_namespace_name, k8s_container_name and (when asked for)
  // k8s_pod_name. Empty values are left out.
  std::map<std::string, std::string> labels;
  // The same labels as one string: a key for caches and per-service maps.
  std::string key;
};


class ProcessTable {
 public:
  // proc_root is "/proc" outside tests. exe_regex empty: every process is observed.
  ProcessTable(std::string proc_root, const std::string& exe_regex, uint64_t refresh_ns = 10'000'000'000ull);

  // `comm` is the kernel's task name, used when /proc has nothing (process gone).
  const ProcessInfo& Lookup(uint32_t pid, std::string_view comm, uint64_t now_ns);

  // What the kernel saw when the process opened its first connection: its
  // executable's name and environment block. Kept when /proc has nothing
  // (the process is gone).
  void Remember(uint32_t pid, std::string_view exe_name, std::string_view environ, uint64_t now_ns);

  // Whether the process passes the --exe filter.
  bool Observed(uint32_t pid, std::string_view comm, uint64_t now_ns);

  // Drops entries not looked up for a long time.
  void Expire(uint64_t now_ns);

  // The pod a process runs in: nullopt when it runs in no known pod. Its
  // workload names the process after OTEL_SERVICE_NAME, before the
  // executable; its namespace and container (and, with `pod_label`, the
  // pod's name) become labels whatever named the process.
  using WorkloadResolver = std::function<std::optional<PodIdentity>(uint32_t pid)>;
  void set_workload_resolver(WorkloadResolver resolver, bool pod_label = false) {
    resolver_ = std::move(resolver);
    pod_label_ = pod_label;
  }

  // Every entry is read again at its next lookup (new workload metadata).
  void MarkStale() {
    for (auto& [pid, e] : entries_) e.read_ns = 0;
  }

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    ProcessInfo info;
    uint64_t read_ns = 0;
    uint64_t used_ns = 0;
    bool observed = true;
    std::optional<std::string> kernel_env_name;  // OTEL_SERVICE_NAME as the kernel saw it
  };
  void Read(uint32_t pid, std::string_view comm, Entry& e);
  // The entry for pid, re-read from /proc when older than the refresh interval.
  Entry& Fresh(uint32_t pid, std::string_view comm, uint64_t now_ns);

  std::string proc_root_;
  std::optional<std::regex> exe_filter_;
  uint64_t refresh_ns_;
  std::unordered_map<uint32_t, Entry> entries_;
  WorkloadResolver resolver_;
  bool pod_label_ = false;
};

// Fills info.labels and info.key from its service name and pod.
void SetIdentity(ProcessInfo& info, bool pod_label);

// OTEL_SERVICE_NAME from a NUL-separated environment block, if set and non-empty.
std::optional<std::string> ServiceNameFromEnviron(std::string_view environ);

}  // namespace sightline::process
