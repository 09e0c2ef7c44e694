// The binaries of a process: this test process itself through the real /proc, and a
// fake /proc whose maps name files with every quirk maps lines have.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "tls/process_maps.h"

namespace {

namespace fs = std::filesystem;
using sightline::tls::ExecutableMappingPath;
using sightline::tls::FileId;
using sightline::tls::MappedFile;
using sightline::tls::ProcessBinaries;

FileId StatId(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return {};
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

TEST(ProcessMaps, MappingPaths) {
  EXPECT_EQ(ExecutableMappingPath("7f2a1c000000-7f2a1c028000 r-xp 00028000 08:01 1835 "
                                  "                      /usr/lib/x86_64-linux-gnu/libc.so.6"),
            "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(
      ExecutableMappingPath("00400000-00452000 r-xp 00000000 08:02 173521   /opt/my app/bin\n"),
      "/opt/my app/bin");
  EXPECT_EQ(ExecutableMappingPath("7f2a1c000000-7f2a1c028000 r--p 00000000 08:01 1835   /lib/x.so"),
            "");
  EXPECT_EQ(ExecutableMappingPath("7ffd5e3f2000-7ffd5e3f4000 r-xp 00000000 00:00 0      [vdso]"),
            "");
  EXPECT_EQ(ExecutableMappingPath("7f2a1c000000-7f2a1c028000 rwxp 00000000 00:00 0 "), "");
  EXPECT_EQ(ExecutableMappingPath("7f2a1c000000-7f2a1c028000 r-xp 00000000 00:00 0"), "");
  EXPECT_EQ(
      ExecutableMappingPath("7f2a1c000000-7f2a1c028000 r-xp 00000000 08:01 99 /tmp/a.so (deleted)"),
      "/tmp/a.so (deleted)");
  EXPECT_EQ(ExecutableMappingPath(""), "");
  EXPECT_EQ(ExecutableMappingPath("garbage"), "");
}

TEST(ProcessMaps, ThisProcess) {
  const uint32_t pid = static_cast<uint32_t>(getpid());
  const std::string exe = fs::read_symlink("/proc/self/exe");
  const std::string root = "/proc/" + std::to_string(pid) + "/root";
  std::vector<MappedFile> files = ProcessBinaries("/proc", pid);
  ASSERT_FALSE(files.empty());

  EXPECT_TRUE(files[0].is_exe);
  EXPECT_EQ(files[0].name, exe);
  EXPECT_EQ(files[0].path, root + exe);
  EXPECT_EQ(files[0].id, StatId(exe));

  std::set<FileId> ids;
  int libc = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    const MappedFile& f = files[i];
    SCOPED_TRACE(f.name);
    EXPECT_EQ(f.is_exe, i == 0);
    EXPECT_TRUE(ids.insert(f.id).second) << "listed twice";
    EXPECT_EQ(f.path, root + f.name);
    EXPECT_EQ(f.id, StatId(f.path));
    EXPECT_EQ(f.id, StatId(f.name));
    EXPECT_NE(f.id, FileId{});
    if (f.name.ends_with("/libc.so.6")) ++libc;
  }
  EXPECT_EQ(libc, 1);
}

TEST(ProcessMaps, GoneProcess) {
  // Above the largest pid_max Linux allows (2^22), so never a live process.
  EXPECT_TRUE(ProcessBinaries("/proc", 0x7fffffff).empty());
}

class ProcessMapsFake : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sightline-maps-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "fs" / "app");
    fs::create_directories(dir_ / "proc" / "42");
    // The process's own filesystem, as seen through <proc>/<pid>/root.
    fs::create_symlink(dir_ / "fs", dir_ / "proc" / "42" / "root");
    std::ofstream(dir_ / "fs" / "app" / "server") << "exe";
    std::ofstream(dir_ / "fs" / "app" / "lib tls.so") << "lib";
    std::ofstream(dir_ / "fs" / "app" / "data.bin") << "data";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ProcessMapsFake, ContainerPathsAndQuirks) {
  const fs::path proc = dir_ / "proc";
  // The exe link resolves on the host; its target name is the container's.
  fs::create_symlink(dir_ / "fs" / "app" / "server", proc / "42" / "exe");
  std::ofstream(proc / "42" / "maps")
      << "00400000-00401000 r--p 00000000 08:01 11 /app/server\n"
         "00401000-00402000 r-xp 00001000 08:01 11 /app/server\n"
         "7f0000000000-7f0000001000 r-xp 00000000 08:01 12                /app/lib tls.so\n"
         "7f0000001000-7f0000002000 r-xp 00001000 08:01 12                /app/lib tls.so\n"
         "7f0000002000-7f0000003000 rw-p 00000000 08:01 13                /app/data.bin\n"
         "7f0000003000-7f0000004000 r-xp 00000000 08:01 14                /app/old.so (deleted)\n"
         "7f0000004000-7f0000005000 r-xp 00000000 08:01 15                /app/missing.so\n"
         "7f0000005000-7f0000006000 rwxp 00000000 00:00 0 \n"
         "7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0                  [vdso]\n";

  std::vector<MappedFile> files = ProcessBinaries(proc.string(), 42);
  const std::string exe_target = dir_ / "fs" / "app" / "server";
  const std::string root = (proc / "42" / "root").string();
  ASSERT_EQ(files.size(), 2u);
  // The exe link's target is a host path here, so root + target does not exist: the
  // link itself is the path.
  EXPECT_TRUE(files[0].is_exe);
  EXPECT_EQ(files[0].name, exe_target);
  EXPECT_EQ(files[0].path, (proc / "42" / "exe").string());
  EXPECT_EQ(files[0].id, StatId(exe_target));
  // /app/server is the exe again (same file): listed once.
  EXPECT_FALSE(files[1].is_exe);
  EXPECT_EQ(files[1].name, "/app/lib tls.so");
  EXPECT_EQ(files[1].path, root + "/app/lib tls.so");
  EXPECT_EQ(files[1].id, StatId((dir_ / "fs" / "app" / "lib tls.so").string()));
}

TEST_F(ProcessMapsFake, NoMapsMeansGone) {
  fs::create_symlink(dir_ / "fs" / "app" / "server", dir_ / "proc" / "42" / "exe");
  EXPECT_TRUE(ProcessBinaries((dir_ / "proc").string(), 42).empty());
}

}  // namespace
