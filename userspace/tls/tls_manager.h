// Decides which binaries get TLS uprobes and keeps the count of who is
// visible: every process is looked at when the daemon starts and again after
// each exec; each binary file is inspected and attached once, whatever the
// number of processes running it, and detached when the last one exits.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bpf/tls_probe.h"
#include "tls/binary_inspector.h"
#include "tls/process_maps.h"

namespace sightline::tls {

struct ManagerOptions {
  std::string proc_root = "/proc";
  uint32_t self_pid = 0;
  // Libraries attached at start and kept, so that processes started later
  // are seen from their first call: libssl in these directories of the
  // host's root (<proc_root>/1/root).
  std::vector<std::string> system_lib_dirs = {"/usr/lib/x86_64-linux-gnu",
                                              "/lib/x86_64-linux-gnu",
                                              "/usr/lib64",
                                              "/lib64",
                                              "/usr/lib",
                                              "/usr/local/lib"};
  // Looks again after an exec: libraries are mapped (or dlopen'ed) after it.
  std::vector<uint64_t> recheck_after_exec_ns = {200'000'000ull, 1'000'000'000ull};
  uint64_t rescan_interval_ns = 30'000'000'000ull;
};

// What the daemon exports about TLS visibility.
struct ManagerSummary {
  // Live processes by (library, visibility); visibility is also "attach_failed".
  std::map<std::pair<std::string, std::string>, int> processes;
  std::map<std::string, int> binaries_attached;  // by library
  uint64_t attach_failures = 0;
  uint64_t inspected_binaries = 0;
};

class Manager {
 public:
  using AttachFn = std::function<uint64_t(
      const std::string& path, const std::vector<bpf::UprobeSpec>& specs, std::string* error)>;
  using DetachFn = std::function<void(uint64_t handle)>;
  using InspectFn = std::function<BinaryInfo(const std::string& path)>;

  Manager(ManagerOptions options, AttachFn attach, DetachFn detach,
          InspectFn inspect = InspectBinary);

  // System libraries, then every process in proc_root.
  void Start(uint64_t now_ns);
  void OnExec(uint32_t pid, uint64_t now_ns);
  void OnExit(uint32_t pid);
  // Runs due re-inspections and the periodic rescan.
  void Tick(uint64_t now_ns);

  ManagerSummary Summary() const;

  // The uprobes for a binary, from what its inspection found.
  static std::vector<bpf::UprobeSpec> Specs(const BinaryInfo& info);

 private:
  struct File {
    BinaryInfo info;
    std::string name;
    uint64_t handle = 0;  // attached when non-zero
    bool failed = false;  // attaching failed: not retried
    bool pinned = false;  // a system library: stays attached
    std::set<uint32_t> users;
    // Size and change time when inspected. A file without TLS has no users and is
    // never forgotten; when these differ its identity names new content (rewritten
    // in place, or a new file reusing the inode) and it is inspected again.
    std::pair<int64_t, int64_t> version{-1, -1};
  };

  void Inspect(uint32_t pid);
  File& FileFor(const MappedFile& m);
  void Release(const FileId& id);
  void Rescan(uint64_t now_ns);

  ManagerOptions options_;
  AttachFn attach_;
  DetachFn detach_;
  InspectFn inspect_;
  std::map<FileId, File> files_;
  std::map<uint32_t, std::vector<FileId>> procs_;  // pid -> its TLS binaries
  std::multimap<uint64_t, uint32_t> due_;          // re-inspections by time
  uint64_t next_rescan_ns_ = 0;
  uint64_t attach_failures_ = 0;
};

}  // namespace sightline::tls
