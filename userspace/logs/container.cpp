#include "logs/container.h"

#include <fstream>
#include <sstream>

#include "k8s/cgroup.h"

namespace sightline::logs {

// One parser for every layout (Docker, containerd, CRI-O, both cgroup drivers),
// shared with the Kubernetes metadata.
std::string ContainerIdFromCgroup(std::string_view text) {
  return k8s::ParseCgroup(text).container_id;
}

ContainerIds::ContainerIds(std::string proc_root, size_t max_entries, uint64_t refresh_ns)
    : proc_root_(std::move(proc_root)), max_entries_(max_entries), refresh_ns_(refresh_ns) {}

const std::string& ContainerIds::Lookup(uint32_t pid, uint64_t now_ns) {
  auto it = entries_.find(pid);
  if (it != entries_.end() && now_ns - it->second.read_ns < refresh_ns_) return it->second.id;
  if (it == entries_.end()) {
    // Bounded: past the cap, start over rather than grow.
    if (entries_.size() >= max_entries_) entries_.clear();
    it = entries_.emplace(pid, Entry{}).first;
  }
  std::ifstream in(proc_root_ + "/" + std::to_string(pid) + "/cgroup");
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    it->second.id = ContainerIdFromCgroup(text.str());
  }
  it->second.read_ns = now_ns;
  return it->second.id;
}

}  // namespace sightline::logs
