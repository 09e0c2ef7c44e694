// Which container and pod a process runs in, from the text of
// /proc/<pid>/cgroup. Kubernetes does not tell a process its pod; the kubelet
// and the container runtime name the cgroups after them instead, so the path
// is where both ids can be read without asking anyone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sightline::k8s {

struct CgroupIds {
  std::string container_id;  // 64 lowercase hex digits, or "" outside a container
  std::string pod_uid;       // "8c7e0d4a-...", or "" outside a Kubernetes pod
};

// Understands cgroup v1 (one line per hierarchy) and v2 ("0::/path"), with the
// layouts of both cgroup drivers:
//   systemd:  /kubepods.slice/kubepods-burstable.slice/
//             kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope
//             (crio-<id>.scope, docker-<id>.scope, libpod-<id>.scope alike)
//   cgroupfs: /kubepods/burstable/pod<uid>/<id>   (no QoS level for Guaranteed)
// and plain Docker (/docker/<id>, system.slice/docker-<id>.scope). CRI-O's
// monitor (crio-conmon-<id>.scope) is not the container. Anything else,
// garbage included, gives empty ids.
CgroupIds ParseCgroup(std::string_view cgroup_file_text);

// The ids of processes, read from <proc_root>/<pid>/cgroup and cached per pid:
// read again after `refresh_ns` (pids are reused), kept when the process is
// gone, bounded (past max_entries the cache starts over rather than grow).
class CgroupCache {
 public:
  CgroupCache(std::string proc_root, size_t max_entries, uint64_t refresh_ns);

  const CgroupIds& Get(uint32_t pid, uint64_t now_ns);
  // Drops entries not read for `age_ns`.
  void Forget(uint64_t now_ns, uint64_t age_ns);

 private:
  struct Entry {
    CgroupIds ids;
    uint64_t read_ns = 0;
  };
  std::string proc_root_;
  size_t max_entries_;
  uint64_t refresh_ns_;
  std::unordered_map<uint32_t, Entry> entries_;
};

}  // namespace sightline::k8s
