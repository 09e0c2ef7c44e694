#include "k8s/cgroup.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace sightline::k8s {
namespace {

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool IsContainerId(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), IsHex);
}

// A pod uid as the kubelet writes it: 36 characters of hex and dashes (the
// systemd driver's underscores already turned into dashes).
bool IsPodUid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

// The container id of one path segment, or "".
std::string_view ContainerOf(std::string_view seg) {
  if (IsContainerId(seg)) return seg;  // cgroupfs driver, /docker/<id>
  constexpr std::string_view kScope = ".scope";
  if (!seg.ends_with(kScope)) return {};
  seg.remove_suffix(kScope.size());
  // The runtime's prefix, then "-<id>": cri-containerd-, crio-, docker-, libpod-.
  // crio-conmon-<id> fails here since "conmon-<id>" is not an id.
  const size_t dash = seg.rfind('-');
  if (dash == std::string_view::npos) return {};
  std::string_view prefix = seg.substr(0, dash);
  std::string_view id = seg.substr(dash + 1);
  if (!IsContainerId(id)) return {};
  if (prefix == "cri-containerd" || prefix == "crio" || prefix == "docker" || prefix == "libpod" ||
      prefix == "cri-dockerd") {
    return id;
  }
  return {};
}

// The pod uid of one path segment, or "".
std::string PodOf(std::string_view seg) {
  // cgroupfs: "pod<uid>".
  if (seg.starts_with("pod") && IsPodUid(seg.substr(3))) return std::string(seg.substr(3));
  // systemd: "kubepods[-<qos>]-pod<uid with _>.slice" (kind nodes prefix "kubelet-").
  constexpr std::string_view kSlice = ".slice";
  if (seg.find("kubepods") == std::string_view::npos || !seg.ends_with(kSlice)) return {};
  seg.remove_suffix(kSlice.size());
  const size_t pod = seg.rfind("-pod");
  if (pod == std::string_view::npos) return {};
  std::string uid(seg.substr(pod + 4));
  std::replace(uid.begin(), uid.end(), '_', '-');
  return IsPodUid(uid) ? uid : std::string();
}

CgroupIds ParsePath(std::string_view path) {
  CgroupIds ids;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(pos, end - pos);
    if (!seg.empty()) {
      if (auto uid = PodOf(seg); !uid.empty()) ids.pod_uid = std::move(uid);
      // The innermost container wins (a container running Docker has nested ones).
      if (auto id = ContainerOf(seg); !id.empty()) ids.container_id = std::string(id);
    }
    pos = end + 1;
  }
  return ids;
}

}  // namespace

CgroupIds ParseCgroup(std::string_view text) {
  // Every hierarchy names the same container, but on a v1 host some are left at
  // "/" (or point at a controller's own group), so the first line that knows
  // a container decides; a line with only a pod uid is kept as a fallback.
  CgroupIds best;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    // "<hierarchy id>:<controllers>:<path>": the path is after the second colon.
    const size_t c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    const size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view path = line.substr(c2 + 1);
    if (!path.starts_with('/')) continue;
    CgroupIds ids = ParsePath(path);
    if (!ids.container_id.empty()) {
      if (ids.pod_uid.empty()) ids.pod_uid = best.pod_uid;
      return ids;
    }
    if (best.pod_uid.empty()) best.pod_uid = std::move(ids.pod_uid);
  }
  return best;
}

CgroupCache::CgroupCache(std::string proc_root, size_t max_entries, uint64_t refresh_ns)
    : proc_root_(std::move(proc_root)), max_entries_(max_entries), refresh_ns_(refresh_ns) {}

const CgroupIds& CgroupCache::Get(uint32_t pid, uint64_t now_ns) {
  auto it = entries_.find(pid);
  if (it != entries_.end() && now_ns - it->second.read_ns < refresh_ns_) return it->second.ids;
  if (it == entries_.end()) {
    if (entries_.size() >= max_entries_) entries_.clear();
    it = entries_.emplace(pid, Entry{}).first;
  }
  std::ifstream in(proc_root_ + "/" + std::to_string(pid) + "/cgroup");
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    it->second.ids = ParseCgroup(text.str());
  }  // gone: keep what was known
  it->second.read_ns = now_ns;
  return it->second.ids;
}

void CgroupCache::Forget(uint64_t now_ns, uint64_t age_ns) {
  std::erase_if(entries_, [&](const auto& kv) { return now_ns >= kv.second.read_ns + age_ns; });
}

}  // namespace sightline::k8s
