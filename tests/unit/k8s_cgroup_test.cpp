// Container ids and pod uids from /proc/<pid>/cgroup, for every runtime and
// cgroup driver layout, v1 and v2, and what must give nothing.
#include <gtest/gtest.h>

#include <string>

#include "k8s/cgroup.h"

namespace {

using sightline::k8s::ParseCgroup;

const std::string kId = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
const std::string kUid = "5f8c2e6a-1b3d-4c7e-9a0f-2d4b6e8a0c1e";
const std::string kUidUnderscores = "5f8c2e6a_1b3d_4c7e_9a0f_2d4b6e8a0c1e";

struct Case {
  const char* name;
  std::string text;
  std::string container_id;
  std::string pod_uid;
};

TEST(K8sCgroup, Layouts) {
  const Case cases[] = {
      {"v2 systemd containerd",
       "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscores +
           ".slice/cri-containerd-" + kId + ".scope\n",
       kId, kUid},
      {"v2 systemd cri-o burstable",
       "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscores +
           ".slice/crio-" + kId + ".scope\n",
       kId, kUid},
      {"v2 systemd guaranteed (no QoS slice)",
       "0::/kubepods.slice/kubepods-pod" + kUidUnderscores + ".slice/cri-containerd-" + kId +
           ".scope\n",
       kId, kUid},
      {"v2 systemd docker via cri-dockerd",
       "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscores +
           ".slice/docker-" + kId + ".scope\n",
       kId, kUid},
      {"v2 cgroupfs containerd", "0::/kubepods/besteffort/pod" + kUid + "/" + kId + "\n", kId,
       kUid},
      {"v2 cgroupfs guaranteed", "0::/kubepods/pod" + kUid + "/" + kId + "\n", kId, kUid},
      {"v1 cgroupfs, every hierarchy",
       "12:hugetlb:/kubepods/burstable/pod" + kUid + "/" + kId +
           "\n11:memory:/kubepods/burstable/pod" + kUid + "/" + kId +
           "\n2:cpu,cpuacct:/kubepods/burstable/pod" + kUid + "/" + kId +
           "\n1:name=systemd:/kubepods/burstable/pod" + kUid + "/" + kId + "\n0::/\n",
       kId, kUid},
      {"v1 systemd driver",
       "10:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
           kUidUnderscores + ".slice/cri-containerd-" + kId +
           ".scope\n1:name=systemd:/kubepods.slice/kubepods-burstable.slice/"
           "kubepods-burstable-pod" +
           kUidUnderscores + ".slice/cri-containerd-" + kId + ".scope\n",
       kId, kUid},
      {"v1 hybrid: the container is on a later line",
       "9:name=systemd:/\n4:memory:/process_api/3b60020d483f34dddbcb0621cb641a13\n"
       "0::/kubepods/besteffort/pod" +
           kUid + "/" + kId + "\n",
       kId, kUid},
      {"plain docker, v1", "4:memory:/docker/" + kId + "\n1:name=systemd:/docker/" + kId + "\n",
       kId, ""},
      {"plain docker, v2 systemd", "0::/system.slice/docker-" + kId + ".scope\n", kId, ""},
      {"podman", "0::/machine.slice/libpod-" + kId + ".scope/container\n", kId, ""},
      {"kind node: docker outside, containerd inside",
       "0::/system.slice/docker-" + std::string(64, 'a') +
           ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
           "kubelet-kubepods-besteffort-pod" +
           kUidUnderscores + ".slice/cri-containerd-" + kId + ".scope\n",
       kId, kUid},
      {"pod known, no container yet (pod-level cgroup)",
       "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscores +
           ".slice\n",
       "", kUid},
      {"cri-o's monitor is not the container",
       "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscores +
           ".slice/crio-conmon-" + kId + ".scope\n",
       "", kUid},
      {"host process, v2", "0::/system.slice/ssh.service\n", "", ""},
      {"host process, v1 root", "9:name=systemd:/\n8:pids:/\n0::/\n", "", ""},
      {"empty", "", "", ""},
      {"garbage", "\x01\x02 not a cgroup file\n:::\n0:\n::relative/" + kId + "\n", "", ""},
      {"63 hex digits", "0::/docker/" + kId.substr(1) + "\n", "", ""},
      {"65 hex digits", "0::/docker/" + kId + "0\n", "", ""},
      {"uppercase hex is not an id", "0::/docker/" + std::string(64, 'A') + "\n", "", ""},
      {"unknown runtime prefix", "0::/system.slice/foo-" + kId + ".scope\n", "", ""},
      {"pod uid malformed", "0::/kubepods/besteffort/pod1234/" + kId + "\n", kId, ""},
      {"no trailing newline", "0::/kubepods/besteffort/pod" + kUid + "/" + kId, kId, kUid},
  };
  for (const Case& c : cases) {
    auto ids = ParseCgroup(c.text);
    EXPECT_EQ(ids.container_id, c.container_id) << c.name;
    EXPECT_EQ(ids.pod_uid, c.pod_uid) << c.name;
  }
}

TEST(K8sCgroup, EveryPrefixOfAFileIsHarmless) {
  const std::string text = "12:memory:/kubepods/burstable/pod" + kUid + "/" + kId + "\n0::/\n";
  for (size_t n = 0; n <= text.size(); ++n) {
    auto ids = ParseCgroup(std::string_view(text).substr(0, n));
    // Either nothing yet, or exactly the right ids: never a wrong one.
    if (!ids.container_id.empty()) {
      EXPECT_EQ(ids.container_id, kId) << n;
    }
    if (!ids.pod_uid.empty()) {
      EXPECT_EQ(ids.pod_uid, kUid) << n;
    }
  }
}

}  // namespace
