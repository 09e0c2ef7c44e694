#include "tls/tls_manager.h"

#include <dirent.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <cstring>

namespace sightline::tls {
namespace {

constexpr size_t kMaxRememberedFiles = 16384;

bool IsLibssl(std::string_view name) { return name.starts_with("libssl.so"); }

// Every pid in proc_root; nullopt when it cannot be listed (out of fds, say),
// which must not read as "every process exited".
std::optional<std::vector<uint32_t>> ListPids(const std::string& proc_root) {
  std::vector<uint32_t> pids;
  DIR* dir = opendir(proc_root.c_str());
  if (!dir) return std::nullopt;
  while (dirent* e = readdir(dir)) {
    uint32_t pid = 0;
    const char* end = e->d_name + std::strlen(e->d_name);
    auto [p, ec] = std::from_chars(e->d_name, end, pid);
    if (ec == std::errc() && p == end && pid > 0) pids.push_back(pid);
  }
  closedir(dir);
  return pids;
}

// Size and change time (ns); a write or a new file on the inode changes them.
std::pair<int64_t, int64_t> FileVersion(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return {-1, -1};
  return {int64_t(st.st_size), int64_t(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
}

}  // namespace

Manager::Manager(ManagerOptions options, AttachFn attach, DetachFn detach, InspectFn inspect)
    : options_(std::move(options)),
      attach_(std::move(attach)),
      detach_(std::move(detach)),
      inspect_(std::move(inspect)) {}

std::vector<bpf::UprobeSpec> Manager::Specs(const BinaryInfo& info) {
  using bpf::TlsHook;
  std::vector<bpf::UprobeSpec> specs;
  if (info.visibility != Visibility::kVisible) return specs;
  if (info.library == TlsLibrary::kOpenSsl) {
    const auto& o = info.openssl;
    const std::pair<TlsHook, uint64_t> calls[] = {{TlsHook::kSslWrite, o.ssl_write},
                                                  {TlsHook::kSslRead, o.ssl_read},
                                                  {TlsHook::kSslWriteEx, o.ssl_write_ex},
                                                  {TlsHook::kSslReadEx, o.ssl_read_ex}};
    for (auto [hook, off] : calls) {
      if (!off) continue;
      specs.push_back({hook, off});
      specs.push_back({TlsHook::kSslReturn, off});
    }
    if (o.ssl_free) specs.push_back({TlsHook::kSslFree, o.ssl_free});
  } else if (info.library == TlsLibrary::kGo) {
    const auto& g = info.go;
    if (!g.write_entry || !g.read_entry || g.write_returns.empty() || g.read_returns.empty()) {
      return {};
    }
    specs.push_back({TlsHook::kGoWrite, g.write_entry});
    specs.push_back({TlsHook::kGoRead, g.read_entry});
    for (uint64_t r : g.write_returns) specs.push_back({TlsHook::kGoReturn, r});
    for (uint64_t r : g.read_returns) specs.push_back({TlsHook::kGoReturn, r});
  }
  return specs;
}

Manager::File& Manager::FileFor(const MappedFile& m) {
  auto [it, fresh] = files_.try_emplace(m.id);
  File& f = it->second;
  if (!fresh && f.info.library != TlsLibrary::kNone) return f;
  const auto version = FileVersion(m.path);
  if (!fresh && f.version == version) return f;
  f.version = version;
  f.info = inspect_(m.path);
  f.name = m.name;
  if (f.info.library == TlsLibrary::kNone) return f;
  auto specs = Specs(f.info);
  if (specs.empty()) {
    spdlog::info("TLS in {} is not visible ({}, {}): {}", m.name, TlsLibraryName(f.info.library),
                 VisibilityName(f.info.visibility), f.info.detail);
    return f;
  }
  std::string error;
  f.handle = attach_(m.path, specs, &error);
  if (!f.handle) {
    f.failed = true;
    attach_failures_++;
    spdlog::warn("cannot attach TLS probes to {}: {}", m.name, error);
  } else {
    spdlog::info("TLS probes attached to {} ({}, {} uprobes)", m.name,
                 TlsLibraryName(f.info.library), specs.size());
  }
  return f;
}

void Manager::Start(uint64_t now_ns) {
  std::string root = options_.proc_root + "/1/root";
  for (const std::string& dir : options_.system_lib_dirs) {
    std::string path = root + dir;
    DIR* d = opendir(path.c_str());
    if (!d) continue;
    while (dirent* e = readdir(d)) {
      if (!IsLibssl(e->d_name)) continue;
      std::string file = path + "/" + e->d_name;
      struct stat st;
      if (stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      MappedFile m{{uint64_t(st.st_dev), uint64_t(st.st_ino)}, file, dir + "/" + e->d_name, false};
      File& f = FileFor(m);
      f.pinned = true;
    }
    closedir(d);
  }
  Rescan(now_ns);
}

void Manager::Rescan(uint64_t now_ns) {
  next_rescan_ns_ = now_ns + options_.rescan_interval_ns;
  auto pids = ListPids(options_.proc_root);
  if (!pids) {
    spdlog::warn("cannot list {}: TLS discovery keeps what it knows", options_.proc_root);
    return;
  }
  // Binaries without TLS are remembered so each exec does not read them
  // again; the memory is bounded by forgetting them all now and then.
  if (files_.size() > kMaxRememberedFiles) {
    std::erase_if(files_, [](const auto& kv) {
      return kv.second.info.library == TlsLibrary::kNone && kv.second.users.empty();
    });
  }
  std::set<uint32_t> live;
  for (uint32_t pid : *pids) {
    if (pid == options_.self_pid) continue;
    live.insert(pid);
    Inspect(pid);
  }
  std::vector<uint32_t> gone;
  for (const auto& [pid, files] : procs_) {
    if (!live.count(pid)) gone.push_back(pid);
  }
  for (uint32_t pid : gone) OnExit(pid);
}

void Manager::Inspect(uint32_t pid) {
  std::vector<FileId> tls_files;
  for (const MappedFile& m : ProcessBinaries(options_.proc_root, pid)) {
    File& f = FileFor(m);
    if (f.info.library == TlsLibrary::kNone) continue;
    tls_files.push_back(m.id);
  }
  // Files the process no longer maps (it exec'ed) lose it as a user.
  auto& mine = procs_[pid];
  for (const FileId& id : mine) {
    if (std::find(tls_files.begin(), tls_files.end(), id) == tls_files.end()) {
      files_[id].users.erase(pid);
      Release(id);
    }
  }
  for (const FileId& id : tls_files) files_[id].users.insert(pid);
  if (tls_files.empty()) {
    procs_.erase(pid);
  } else {
    mine = std::move(tls_files);
  }
}

void Manager::OnExec(uint32_t pid, uint64_t now_ns) {
  if (pid == options_.self_pid) return;
  Inspect(pid);
  for (uint64_t after : options_.recheck_after_exec_ns) due_.emplace(now_ns + after, pid);
}

void Manager::OnExit(uint32_t pid) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  std::vector<FileId> files = std::move(it->second);
  procs_.erase(it);
  for (const FileId& id : files) {
    files_[id].users.erase(pid);
    Release(id);
  }
}

void Manager::Release(const FileId& id) {
  auto it = files_.find(id);
  if (it == files_.end() || it->second.pinned || !it->second.users.empty()) return;
  // Forgotten entirely: a later process running a file with this identity
  // (perhaps rewritten in place) is inspected afresh.
  if (it->second.handle) {
    detach_(it->second.handle);
    spdlog::info("TLS probes detached from {}: no process runs it", it->second.name);
  }
  files_.erase(it);
}

void Manager::Tick(uint64_t now_ns) {
  while (!due_.empty() && due_.begin()->first <= now_ns) {
    uint32_t pid = due_.begin()->second;
    due_.erase(due_.begin());
    Inspect(pid);
  }
  if (now_ns >= next_rescan_ns_) Rescan(now_ns);
}

ManagerSummary Manager::Summary() const {
  ManagerSummary s;
  for (const auto& [pid, ids] : procs_) {
    std::set<std::pair<std::string, std::string>> seen;
    for (const FileId& id : ids) {
      auto it = files_.find(id);
      if (it == files_.end()) continue;
      const File& f = it->second;
      std::string visibility(f.failed ? "attach_failed" : VisibilityName(f.info.visibility));
      seen.insert({std::string(TlsLibraryName(f.info.library)), visibility});
    }
    for (const auto& key : seen) s.processes[key]++;
  }
  for (const auto& [id, f] : files_) {
    if (f.handle) s.binaries_attached[std::string(TlsLibraryName(f.info.library))]++;
    if (f.info.library != TlsLibrary::kNone) s.inspected_binaries++;
  }
  s.attach_failures = attach_failures_;
  return s;
}

}  // namespace sightline::tls
