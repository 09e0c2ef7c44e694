#include "process/process_table.h"

#include <unistd.h>

#include <fstream>
#include <iterator>

namespace sightline::process {
namespace {

constexpr size_t kMaxEnviron = 1 << 20;

std::string ReadFile(const std::string& path, size_t limit) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::string out;
  out.resize(limit);
  f.read(out.data(), limit);
  out.resize(f.gcount());
  return out;
}

std::string ReadLink(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  if (n <= 0) return {};
  std::string s(buf, n);
  // An executable replaced on disk while running reads as "path (deleted)".
  constexpr std::string_view kDeleted = " (deleted)";
  if (s.size() > kDeleted.size() && s.ends_with(kDeleted)) s.resize(s.size() - kDeleted.size());
  return s;
}

std::string Basename(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

void SetIdentity(ProcessInfo& info, bool pod_label) {
  info.labels.clear();
  info.labels.emplace(kServiceNameLabel, info.service_name);
  info.key = info.service_name;
  if (!info.pod) return;
  auto add = [&](const char* name, const std::string& value) {
    if (value.empty()) return;
    info.labels.emplace(name, value);
    // Kubernetes names hold no control characters: the separators are unambiguous.
    info.key.append(1, '\x1f').append(name).append(1, '\x1e').append(value);
  };
  add(kK8sNamespaceLabel, info.pod->namespace_name);
  if (pod_label) add(kK8sPodLabel, info.pod->pod_name);
  add(kK8sContainerLabel, info.pod->container_name);
}

std::optional<std::string> ServiceNameFromEnviron(std::string_view env) {
  constexpr std::string_view kKey = "OTEL_SERVICE_NAME=";
  size_t pos = 0;
  while (pos < env.size()) {
    size_t end = env.find('\0', pos);
    if (end == std::string_view::npos) end = env.size();
    std::string_view var = env.substr(pos, end - pos);
    if (var.starts_with(kKey) && var.size() > kKey.size()) {
      return std::string(var.substr(kKey.size()));
    }
    pos = end + 1;
  }
  return std::nullopt;
}

ProcessTable::ProcessTable(std::string proc_root, const std::string& exe_regex, uint64_t refresh_ns)
    : proc_root_(std::move(proc_root)), refresh_ns_(refresh_ns) {
  if (!exe_regex.empty()) exe_filter_.emplace(exe_regex, std::regex::extended);
}

void ProcessTable::Read(uint32_t pid, std::string_view comm, Entry& e) {
  std::string base = proc_root_ + "/" + std::to_string(pid);
  std::string exe = ReadLink(base + "/exe");
  if (exe.empty() && !e.info.exe_path.empty()) return;  // gone: keep what we knew
  e.info.exe_path = exe;
  // The kernel's copy of the environment, taken at the first connection,
  // wins: a process that is exiting, or that wrote its title over its
  // environment block, shows /proc readers an empty or garbled one.
  e.info.pod = resolver_ ? resolver_(pid) : std::nullopt;
  if (e.kernel_env_name) {
    e.info.service_name = *e.kernel_env_name;
  } else if (auto name = ServiceNameFromEnviron(ReadFile(base + "/environ", kMaxEnviron))) {
    e.info.service_name = *name;
  } else if (e.info.pod && !e.info.pod->workload.empty()) {
    e.info.service_name = e.info.pod->workload;
  } else if (!exe.empty()) {
    e.info.service_name = Basename(exe);
  } else if (!comm.empty()) {
    e.info.service_name = std::string(comm);
  } else {
    e.info.service_name = "unknown";
  }
  SetIdentity(e.info, pod_label_);
  e.observed = !exe_filter_ || std::regex_search(exe, *exe_filter_);
}

void ProcessTable::Remember(uint32_t pid, std::string_view exe_name, std::string_view environ,
                            uint64_t now_ns) {
  Entry& e = entries_[pid];
  e = Entry{};  // a new process: the pid may be reused
  e.kernel_env_name = ServiceNameFromEnviron(environ);
  Read(pid, exe_name, e);  // /proc for the full executable path, while it is there
  if (e.info.exe_path.empty()) {
    // Already gone: the kernel's view is all there is.
    e.info.exe_path = std::string(exe_name);
    e.observed = !exe_filter_ || std::regex_search(e.info.exe_path, *exe_filter_);
  }
  e.read_ns = now_ns;
  e.used_ns = now_ns;
}

ProcessTable::Entry& ProcessTable::Fresh(uint32_t pid, std::string_view comm, uint64_t now_ns) {
  auto [it, fresh] = entries_.try_emplace(pid);
  Entry& e = it->second;
  if (fresh || e.read_ns + refresh_ns_ <= now_ns) {
    Read(pid, comm, e);
    e.read_ns = now_ns;
  }
  e.used_ns = now_ns;
  return e;
}

const ProcessInfo& ProcessTable::Lookup(uint32_t pid, std::string_view comm, uint64_t now_ns) {
  return Fresh(pid, comm, now_ns).info;
}

bool ProcessTable::Observed(uint32_t pid, std::string_view comm, uint64_t now_ns) {
  return Fresh(pid, comm, now_ns).observed;
}

void ProcessTable::Expire(uint64_t now_ns) {
  const uint64_t keep = 30 * refresh_ns_;
  std::erase_if(entries_, [&](const auto& kv) { return kv.second.used_ns + keep <= now_ns; });
}

}  // namespace sightline::process
