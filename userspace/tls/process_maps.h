// The binaries a process runs code from: its executable and every file mapped
// executable (shared libraries), each named so the daemon can open it even when
// the process lives in another mount namespace (a container).
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::tls {

// Identity of a file on disk: two paths naming the same inode are one binary.
struct FileId {
  uint64_t dev = 0;
  uint64_t ino = 0;
  auto operator<=>(const FileId&) const = default;
};

struct MappedFile {
  FileId id;         // from stat() of `path`
  std::string path;  // openable by the daemon: "<proc_root>/<pid>/root<path in maps>"
  std::string name;  // path as the process sees it (for logs)
  bool is_exe = false;
};

// The executable (via <proc_root>/<pid>/exe) and every file-backed mapping with execute
// permission of the process, deduplicated by FileId, exe first, then in address order.
// Mappings whose file was deleted or replaced since (" (deleted)") are left out: no path
// reaches them any more. Empty when the process is gone or unreadable.
std::vector<MappedFile> ProcessBinaries(const std::string& proc_root, uint32_t pid);

// The path of one line of /proc/<pid>/maps if the mapping is executable and backed by
// a file ("/usr/lib/x86_64-linux-gnu/libc.so.6"); empty otherwise.
std::string ExecutableMappingPath(std::string_view maps_line);

}  // namespace sightline::tls
