#include "logs/container.h"


namespace sightline::logs {

// One parser for every layout (Docker, containerd, CRI-O, both cgroup drivers),
// shared with the Kubernetes metadata.
std::string ContainerIdFromCgroup(std::string_view text) {
  return k8s::ParseCgroup(text).container_id;
}

ContainerIds::ContainerIds(std::string proc_root, size_t max_entries, uint64_t refresh_ns)
    : cgroups_(std::move(proc_root), max_entries, refresh_ns) {}

const std::string& ContainerIds::Lookup(uint32_t pid, uint64_t now_ns) {
  return cgroups_.Get(pid, now_ns).container_id;
}

}  // namespace sightline::logs
