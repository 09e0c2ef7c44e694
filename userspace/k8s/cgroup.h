// Which container and pod a process runs in, from the text of
// /proc/<pid>/cgroup. Kubernetes does not tell a process its pod; the kubelet
// and the container runtime name the cgroups after them instead, so the path
// is where both ids can be read without asking anyone.
#pragma once

#include <string>
#include <string_view>

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

}  // namespace sightline::k8s
