// Container ids of observed processes, read from /proc/<pid>/cgroup: the
// 64-hex-digit id that Docker, containerd, CRI-O and Podman put in their
// cgroup paths. Cached per pid (bounded, re-read after a while since pids
// are reused) so a log line costs no file read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "k8s/cgroup.h"

namespace sightline::logs {

// The container id in a cgroup file's text (k8s::ParseCgroup), or "".
std::string ContainerIdFromCgroup(std::string_view cgroup_text);

class ContainerIds {
 public:
  explicit ContainerIds(std::string proc_root, size_t max_entries = 4096,
                        uint64_t refresh_ns = 60'000'000'000ull);
  // "" when the process runs in no container (or is gone).
  const std::string& Lookup(uint32_t pid, uint64_t now_ns);

 private:
  k8s::CgroupCache cgroups_;
};

}  // namespace sightline::logs
