#include "tls/process_maps.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <set>

namespace sightline::tls {
namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

std::optional<FileId> StatId(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

std::optional<std::string> ReadLink(const std::string& path) {
  std::string target(256, '\0');
  for (;;) {
    ssize_t n = readlink(path.c_str(), target.data(), target.size());
    if (n < 0) return std::nullopt;
    if (static_cast<size_t>(n) < target.size()) {
      target.resize(static_cast<size_t>(n));
      return target;
    }
    if (target.size() >= 65536) return std::nullopt;
    target.resize(target.size() * 2);
  }
}

// Skips one whitespace-separated field of a maps line; false when the line ends first.
bool SkipField(std::string_view& line) {
  size_t start = line.find_first_not_of(' ');
  if (start == std::string_view::npos) return false;
  size_t end = line.find(' ', start);
  if (end == std::string_view::npos) return false;
  line.remove_prefix(end);
  return true;
}

}  // namespace

std::string ExecutableMappingPath(std::string_view line) {
  // "start-end perms offset dev inode   pathname"; the pathname may hold spaces.
  std::string_view rest = line;
  if (!SkipField(rest)) return {};
  size_t perms_start = rest.find_first_not_of(' ');
  if (perms_start == std::string_view::npos || rest.size() < perms_start + 4) return {};
  const bool executable = rest[perms_start + 2] == 'x';
  for (int field = 0; field < 4; ++field) {  // perms, offset, dev, inode
    if (!SkipField(rest)) return {};
  }
  size_t path_start = rest.find_first_not_of(' ');
  if (!executable || path_start == std::string_view::npos) return {};
  rest.remove_prefix(path_start);
  if (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
  // Anonymous and special mappings ("[vdso]", "[heap]") do not start with '/'.
  if (!rest.starts_with('/')) return {};
  return std::string(rest);
}

std::vector<MappedFile> ProcessBinaries(const std::string& proc_root, uint32_t pid) {
  const std::string dir = proc_root + "/" + std::to_string(pid);
  const std::string root = dir + "/root";
  std::ifstream maps(dir + "/maps");
  if (!maps) return {};

  std::vector<MappedFile> files;
  std::set<FileId> seen;

  const std::string exe_link = dir + "/exe";
  std::optional<std::string> exe_name = ReadLink(exe_link);
  std::optional<FileId> exe_id = StatId(exe_link);
  if (exe_name && exe_id) {
    // Prefer a path that outlives the process; the exe link itself still works when the
    // file was deleted or replaced, as long as the process runs.
    std::string path = root + *exe_name;
    if (StatId(path) != exe_id) path = exe_link;
    files.push_back({*exe_id, std::move(path), *exe_name, true});
    seen.insert(*exe_id);
  }

  std::string line;
  while (std::getline(maps, line)) {
    std::string name = ExecutableMappingPath(line);
    if (name.empty() || name.ends_with(kDeletedSuffix)) continue;
    std::string path = root + name;
    std::optional<FileId> id = StatId(path);
    if (!id || !seen.insert(*id).second) continue;
    files.push_back({*id, std::move(path), std::move(name), false});
  }
  return files;
}

}  // namespace sightline::tls
