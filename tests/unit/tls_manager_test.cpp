// Which binaries get TLS uprobes: the uprobes of each inspected binary, then the manager
// over a fake /proc whose processes map real files (so stat() gives real identities),
// with inspection, attach and detach faked.
#include "tls/tls_manager.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bpf/tls_probe.h"
#include "tls/binary_inspector.h"

namespace {

namespace fs = std::filesystem;
using sightline::bpf::TlsHook;
using sightline::bpf::UprobeSpec;
using sightline::tls::BinaryInfo;
using sightline::tls::Manager;
using sightline::tls::ManagerOptions;
using sightline::tls::ManagerSummary;
using sightline::tls::TlsLibrary;
using sightline::tls::Visibility;

using Spec = std::pair<TlsHook, uint64_t>;
using Key = std::pair<std::string, std::string>;

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1'000'000'000;

// Sorted, so the order the manager lists uprobes in does not matter.
std::vector<Spec> Sorted(const std::vector<UprobeSpec>& specs) {
  std::vector<Spec> out;
  for (const UprobeSpec& s : specs) out.push_back({s.hook, s.offset});
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Spec> SortedSpecs(std::vector<Spec> specs) {
  std::sort(specs.begin(), specs.end());
  return specs;
}

BinaryInfo OpenSsl(uint64_t write, uint64_t read, uint64_t write_ex, uint64_t read_ex,
                   uint64_t free) {
  BinaryInfo info;
  info.library = TlsLibrary::kOpenSsl;
  info.visibility = Visibility::kVisible;
  info.openssl = {write, read, write_ex, read_ex, free};
  return info;
}

BinaryInfo Go(uint64_t write, uint64_t read, std::vector<uint64_t> write_returns,
              std::vector<uint64_t> read_returns) {
  BinaryInfo info;
  info.library = TlsLibrary::kGo;
  info.visibility = Visibility::kVisible;
  info.detail = "go1.21.0";
  info.go = {write, read, std::move(write_returns), std::move(read_returns)};
  return info;
}

const std::vector<Spec> kOpenSslSpecs = SortedSpecs({{TlsHook::kSslWrite, 0x100},
                                                     {TlsHook::kSslReturn, 0x100},
                                                     {TlsHook::kSslRead, 0x200},
                                                     {TlsHook::kSslReturn, 0x200},
                                                     {TlsHook::kSslWriteEx, 0x300},
                                                     {TlsHook::kSslReturn, 0x300},
                                                     {TlsHook::kSslReadEx, 0x400},
                                                     {TlsHook::kSslReturn, 0x400},
                                                     {TlsHook::kSslFree, 0x500}});

const std::vector<Spec> kGoSpecs = SortedSpecs({{TlsHook::kGoWrite, 0x1000},
                                                {TlsHook::kGoRead, 0x2000},
                                                {TlsHook::kGoReturn, 0x1010},
                                                {TlsHook::kGoReturn, 0x1020},
                                                {TlsHook::kGoReturn, 0x2010}});

// What the fake inspection finds, by file name.
BinaryInfo FakeInspect(const std::string& name) {
  if (name.starts_with("libssl.so")) return OpenSsl(0x100, 0x200, 0x300, 0x400, 0x500);
  if (name == "app-go") return Go(0x1000, 0x2000, {0x1010, 0x1020}, {0x2010});
  BinaryInfo info;
  if (name == "go-stripped") {
    info.library = TlsLibrary::kGo;
    info.visibility = Visibility::kStripped;
    info.detail = "no symbol table (go1.21.0)";
  } else if (name.starts_with("libgnutls.so")) {
    info.library = TlsLibrary::kGnuTls;
    info.visibility = Visibility::kUnsupportedLibrary;
  }
  return info;
}

TEST(TlsManagerSpecs, OpenSsl) {
  EXPECT_EQ(Sorted(Manager::Specs(OpenSsl(0x100, 0x200, 0x300, 0x400, 0x500))), kOpenSslSpecs);

  // OpenSSL before 1.1.1: no _ex functions.
  EXPECT_EQ(Sorted(Manager::Specs(OpenSsl(0x100, 0x200, 0, 0, 0x500))),
            SortedSpecs({{TlsHook::kSslWrite, 0x100},
                         {TlsHook::kSslReturn, 0x100},
                         {TlsHook::kSslRead, 0x200},
                         {TlsHook::kSslReturn, 0x200},
                         {TlsHook::kSslFree, 0x500}}));
  // One _ex function only.
  EXPECT_EQ(Sorted(Manager::Specs(OpenSsl(0x100, 0x200, 0, 0x400, 0x500))),
            SortedSpecs({{TlsHook::kSslWrite, 0x100},
                         {TlsHook::kSslReturn, 0x100},
                         {TlsHook::kSslRead, 0x200},
                         {TlsHook::kSslReturn, 0x200},
                         {TlsHook::kSslReadEx, 0x400},
                         {TlsHook::kSslReturn, 0x400},
                         {TlsHook::kSslFree, 0x500}}));

  BinaryInfo old = OpenSsl(0x100, 0x200, 0x300, 0x400, 0x500);
  old.visibility = Visibility::kUnsupportedVersion;
  EXPECT_TRUE(Manager::Specs(old).empty());
}

TEST(TlsManagerSpecs, Go) {
  EXPECT_EQ(Sorted(Manager::Specs(Go(0x1000, 0x2000, {0x1010, 0x1020}, {0x2010}))), kGoSpecs);
  // One return each.
  EXPECT_EQ(Sorted(Manager::Specs(Go(0x1000, 0x2000, {0x1010}, {0x2010}))),
            SortedSpecs({{TlsHook::kGoWrite, 0x1000},
                         {TlsHook::kGoRead, 0x2000},
                         {TlsHook::kGoReturn, 0x1010},
                         {TlsHook::kGoReturn, 0x2010}}));

  // Without the returns of either function the read/write pairs cannot be completed.
  EXPECT_TRUE(Manager::Specs(Go(0x1000, 0x2000, {}, {0x2010})).empty());
  EXPECT_TRUE(Manager::Specs(Go(0x1000, 0x2000, {0x1010}, {})).empty());
  EXPECT_TRUE(Manager::Specs(Go(0x1000, 0x2000, {}, {})).empty());
  EXPECT_TRUE(Manager::Specs(Go(0, 0x2000, {0x1010}, {0x2010})).empty());
  EXPECT_TRUE(Manager::Specs(Go(0x1000, 0, {0x1010}, {0x2010})).empty());
}

TEST(TlsManagerSpecs, NotVisible) {
  BinaryInfo stripped = Go(0x1000, 0x2000, {0x1010}, {0x2010});
  stripped.visibility = Visibility::kStripped;
  EXPECT_TRUE(Manager::Specs(stripped).empty());
  EXPECT_TRUE(Manager::Specs(FakeInspect("go-stripped")).empty());
  EXPECT_TRUE(Manager::Specs(FakeInspect("libgnutls.so.30")).empty());
  EXPECT_TRUE(Manager::Specs(FakeInspect("curl")).empty());
  EXPECT_TRUE(Manager::Specs(BinaryInfo{}).empty());
}

class TlsManager : public ::testing::Test {
 protected:
  struct Attach {
    std::string path;
    fs::path file;     // the binary the path led to
    std::string name;  // its file name
    std::vector<Spec> specs;
    uint64_t handle;
  };

  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("sightline-tls-manager-" + std::to_string(getpid()) + "-" + test->name());
    fs::remove_all(dir_);
    proc_ = dir_ / "proc";
    host_lib_ = dir_ / "host" / "usr" / "lib";
    fs::create_directories(proc_ / "1");
    fs::create_directories(proc_ / "net");  // not a process
    fs::create_directories(host_lib_);
    // The host's root; the fake processes live in it too, so the paths in their maps
    // and exe links are paths on this machine.
    fs::create_symlink("/", proc_ / "1" / "root");

    options_.proc_root = proc_.string();
    options_.self_pid = 0;
    options_.system_lib_dirs = {host_lib_.string(), (dir_ / "host" / "missing").string()};
  }

  void TearDown() override { fs::remove_all(dir_); }

  // A regular file of its own (its own inode) at dir_/rel.
  std::string MakeFile(const std::string& rel) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << rel;
    return p.string();
  }

  // Process pid runs exe and maps libs (executable mappings); rewritten on each call,
  // as an exec or a dlopen would change it.
  void SetProcess(uint32_t pid, const std::string& exe, const std::vector<std::string>& libs) {
    fs::path dir = proc_ / std::to_string(pid);
    fs::create_directories(dir);
    if (!fs::is_symlink(dir / "root")) fs::create_symlink("/", dir / "root");
    fs::remove(dir / "exe");
    fs::create_symlink(exe, dir / "exe");
    std::ofstream maps(dir / "maps", std::ios::trunc);
    maps << "00400000-00401000 r--p 00000000 08:01 11 " << exe << "\n"
         << "00401000-00402000 r-xp 00001000 08:01 11 " << exe << "\n";
    uint64_t base = 0x7f0000000000;
    for (const std::string& lib : libs) {
      maps << std::hex << base << "-" << base + 0x1000 << std::dec
           << " r-xp 00000000 08:01 12                " << lib << "\n";
      base += 0x10000;
    }
    maps << "7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0                  [vdso]\n";
  }

  void RemoveProcess(uint32_t pid) { fs::remove_all(proc_ / std::to_string(pid)); }

  std::unique_ptr<Manager> Make() {
    return std::make_unique<Manager>(
        options_,
        [this](const std::string& path, const std::vector<UprobeSpec>& specs,
               std::string* error) -> uint64_t {
          fs::path file = fs::canonical(path);
          std::string name = file.filename().string();
          uint64_t handle = name == fail_name_ ? 0 : next_handle_++;
          attaches_.push_back({path, file, name, Sorted(specs), handle});
          if (!handle) *error = "injected failure";
          return handle;
        },
        [this](uint64_t handle) { detaches_.push_back(handle); },
        [this](const std::string& path) {
          std::string name = fs::canonical(path).filename().string();
          inspected_[name]++;
          auto as = acts_as_.find(name);
          return FakeInspect(as == acts_as_.end() ? name : as->second);
        });
  }

  // The handle the last attach of a file returned.
  uint64_t HandleOf(const std::string& file) const {
    for (auto a = attaches_.rbegin(); a != attaches_.rend(); ++a) {
      if (a->file == fs::canonical(file)) return a->handle;
    }
    return 0;
  }

  fs::path dir_, proc_, host_lib_;
  ManagerOptions options_;
  std::string fail_name_;
  uint64_t next_handle_ = 1;
  std::vector<Attach> attaches_;
  std::vector<uint64_t> detaches_;
  std::map<std::string, int> inspected_;
  std::map<std::string, std::string> acts_as_;  // inspected as if named otherwise
};

TEST_F(TlsManager, StartPinsSystemLibsslWithoutUsers) {
  const std::string libssl = MakeFile("host/usr/lib/libssl.so.3");
  fs::create_symlink("libssl.so.3", host_lib_ / "libssl.so");  // the same file again
  MakeFile("host/usr/lib/libcrypto.so.3");                     // not libssl
  fs::create_directories(host_lib_ / "libssl.so.d");           // not a regular file

  auto m = Make();
  m->Start(0);
  ASSERT_EQ(attaches_.size(), 1u);
  EXPECT_EQ(attaches_[0].file, fs::canonical(libssl));
  EXPECT_EQ(attaches_[0].specs, kOpenSslSpecs);
  EXPECT_EQ(inspected_, (std::map<std::string, int>{{"libssl.so.3", 1}}));

  ManagerSummary s = m->Summary();
  EXPECT_TRUE(s.processes.empty());
  EXPECT_EQ(s.binaries_attached, (std::map<std::string, int>{{"openssl", 1}}));
  EXPECT_EQ(s.attach_failures, 0u);
  EXPECT_EQ(s.inspected_binaries, 1u);

  // Kept through rescans with still nobody using it.
  m->Tick(options_.rescan_interval_ns);
  m->Tick(3 * options_.rescan_interval_ns);
  EXPECT_EQ(attaches_.size(), 1u);
  EXPECT_TRUE(detaches_.empty());
  EXPECT_EQ(m->Summary().binaries_attached, (std::map<std::string, int>{{"openssl", 1}}));
}

TEST_F(TlsManager, SharedLibsslAttachedOncePerFile) {
  const std::string libssl = MakeFile("host/usr/lib/libssl.so.3");
  fs::create_symlink("libssl.so.3", host_lib_ / "libssl.so");
  const std::string copy = MakeFile("container/usr/lib/libssl.so.3");  // another inode
  const std::string curl = MakeFile("host/usr/bin/curl");
  SetProcess(100, curl, {libssl});
  SetProcess(101, curl, {(host_lib_ / "libssl.so").string()});  // same file, other name
  SetProcess(102, MakeFile("container/usr/bin/curl"), {copy});

  auto m = Make();
  m->Start(0);
  ASSERT_EQ(attaches_.size(), 2u);
  EXPECT_EQ(attaches_[0].file, fs::canonical(libssl));  // pinned, first
  EXPECT_EQ(attaches_[1].file, fs::canonical(copy));
  EXPECT_EQ(attaches_[1].specs, kOpenSslSpecs);
  EXPECT_EQ(inspected_["libssl.so.3"], 2);
  EXPECT_EQ(inspected_["curl"], 2);  // once per file, not per process

  ManagerSummary s = m->Summary();
  EXPECT_EQ(s.processes, (std::map<Key, int>{{{"openssl", "visible"}, 3}}));
  EXPECT_EQ(s.binaries_attached, (std::map<std::string, int>{{"openssl", 2}}));
  EXPECT_EQ(s.inspected_binaries, 2u);

  // The pinned library stays when its users exit; the copy goes with its only user.
  m->OnExit(100);
  m->OnExit(101);
  EXPECT_TRUE(detaches_.empty());
  m->OnExit(102);
  EXPECT_EQ(detaches_, (std::vector<uint64_t>{HandleOf(copy)}));
  s = m->Summary();
  EXPECT_TRUE(s.processes.empty());
  EXPECT_EQ(s.binaries_attached, (std::map<std::string, int>{{"openssl", 1}}));
  EXPECT_EQ(attaches_.size(), 2u);
}

TEST_F(TlsManager, GoExecutableAttachedWhileRun) {
  const std::string app = MakeFile("srv/app-go");
  SetProcess(200, app, {});
  SetProcess(201, app, {});

  auto m = Make();
  m->Start(0);
  ASSERT_EQ(attaches_.size(), 1u);
  EXPECT_EQ(attaches_[0].name, "app-go");
  EXPECT_EQ(attaches_[0].specs, kGoSpecs);
  const uint64_t handle = attaches_[0].handle;
  ManagerSummary s = m->Summary();
  EXPECT_EQ(s.processes, (std::map<Key, int>{{{"go", "visible"}, 2}}));
  EXPECT_EQ(s.binaries_attached, (std::map<std::string, int>{{"go", 1}}));

  RemoveProcess(200);
  m->OnExit(200);
  EXPECT_TRUE(detaches_.empty());
  s = m->Summary();
  EXPECT_EQ(s.processes, (std::map<Key, int>{{{"go", "visible"}, 1}}));
  EXPECT_EQ(s.binaries_attached, (std::map<std::string, int>{{"go", 1}}));

  RemoveProcess(201);
  m->OnExit(201);
  EXPECT_EQ(detaches_, (std::vector<uint64_t>{handle}));
  s = m->Summary();
  EXPECT_TRUE(s.processes.empty());
  EXPECT_TRUE(s.binaries_attached.empty());
  m->OnExit(201);  // twice: nothing more
  EXPECT_EQ(detaches_.size(), 1u);

  // Run again later: inspected and attached afresh.
  SetProcess(202, app, {});
  m->OnExec(202, 5 * kSec);
  ASSERT_EQ(attaches_.size(), 2u);
  EXPECT_EQ(attaches_[1].name, "app-go");
  EXPECT_NE(attaches_[1].handle, handle);
  EXPECT_EQ(inspected_["app-go"], 2);
  s = m->Summary();
  EXPECT_EQ(s.processes, (std::map<Key, int>{{{"go", "visible"}, 1}}));
  EXPECT_EQ(s.binaries_attached, (std::map<std::string, int>{{"go", 1}}));
}

TEST_F(TlsManager, NotVisibleCountedNeverAttached) {
  SetProcess(300, MakeFile("srv/go-stripped"), {});
  SetProcess(301, MakeFile("usr/bin/gnutls-cli"), {MakeFile("usr/lib/libgnutls.so.30")});
  SetProcess(302, MakeFile("usr/bin/sleep"), {});

  auto m = Make();
  m->Start(0);
  m->OnExec(300, kSec);
  m->OnExec(301, kSec);
  m->Tick(kSec + 200 * kMs);
  m->Tick(2 * kSec);
  m->Tick(options_.rescan_interval_ns + kSec);
  EXPECT_TRUE(attaches_.empty());
  EXPECT_EQ(inspected_["go-stripped"], 1);
  EXPECT_EQ(inspected_["libgnutls.so.30"], 1);

  ManagerSummary s = m->Summary();
  EXPECT_EQ(s.processes,
            (std::map<Key, int>{{{"go", "stripped"}, 1}, {{"gnutls", "unsupported_library"}, 1}}));
  EXPECT_TRUE(s.binaries_attached.empty());
  EXPECT_EQ(s.attach_failures, 0u);
  EXPECT_EQ(s.inspected_binaries, 2u);

  m->OnExit(300);
  m->OnExit(301);
  EXPECT_TRUE(m->Summary().processes.empty());
  EXPECT_TRUE(detaches_.empty());
}

TEST_F(TlsManager, AttachFailureCountedNotRetried) {
  fail_name_ = "app-go";
  const std::string app = MakeFile("srv/app-go");
  SetProcess(400, app, {});

  auto m = Make();
  m->Start(0);
  ASSERT_EQ(attaches_.size(), 1u);
  EXPECT_EQ(attaches_[0].handle, 0u);
  ManagerSummary s = m->Summary();
  EXPECT_EQ(s.processes, (std::map<Key, int>{{{"go", "attach_failed"}, 1}}));
  EXPECT_TRUE(s.binaries_attached.empty());
  EXPECT_EQ(s.attach_failures, 1u);

  // Re-inspections of it, and another process running it meanwhile: no new attempt.
  m->OnExec(400, kSec);
  SetProcess(401, app, {});
  m->OnExec(401, kSec);
  m->Tick(kSec + 200 * kMs);
  m->Tick(2 * kSec);
  m->Tick(options_.rescan_interval_ns);
  EXPECT_EQ(attaches_.size(), 1u);
  EXPECT_EQ(inspected_["app-go"], 1);
  s = m->Summary();
  EXPECT_EQ(s.processes, (std::map<Key, int>{{{"go", "attach_failed"}, 2}}));
  EXPECT_EQ(s.attach_failures, 1u);

  m->OnExit(400);
  m->OnExit(401);
  EXPECT_TRUE(detaches_.empty());  // nothing was attached
  EXPECT_TRUE(m->Summary().processes.empty());
}

TEST_F(TlsManager, ExecIntoNonTlsBinaryReleasesFiles) {
  const std::string libssl = MakeFile("host/usr/lib/libssl.so.3");
  const std::string copy = MakeFile("container/usr/lib/libssl.so.3");
  const std::string sh = MakeFile("usr/bin/sh");
  SetProcess(500, MakeFile("container/usr/bin/curl"), {copy});
  SetProcess(501, MakeFile("usr/bin/curl"), {libssl});

  auto m = Make();
  m->Start(0);
  ASSERT_EQ(attaches_.size(), 2u);
  EXPECT_EQ(m->Summary().processes, (std::map<Key, int>{{{"openssl", "visible"}, 2}}));

  // 500 execs sh: the copy it mapped is detached at once.
  SetProcess(500, sh, {});
  m->OnExec(500, kSec);
  EXPECT_EQ(detaches_, (std::vector<uint64_t>{HandleOf(copy)}));
  ManagerSummary s = m->Summary();
  EXPECT_EQ(s.processes, (std::map<Key, int>{{{"openssl", "visible"}, 1}}));
  EXPECT_EQ(s.binaries_attached, (std::map<std::string, int>{{"openssl", 1}}));

  // 501 execs sh: the pinned system libssl stays.
  SetProcess(501, sh, {});
  m->OnExec(501, kSec);
  EXPECT_EQ(detaches_.size(), 1u);
  s = m->Summary();
  EXPECT_TRUE(s.processes.empty());
  EXPECT_EQ(s.binaries_attached, (std::map<std::string, int>{{"openssl", 1}}));

  // Exiting now changes nothing more.
  m->OnExit(500);
  m->OnExit(501);
  EXPECT_EQ(detaches_.size(), 1u);
}

TEST_F(TlsManager, ReinspectionsAfterExec) {
  const std::string python = MakeFile("usr/bin/python3");
  const std::string libssl3 = MakeFile("venv/lib/libssl.so.3");
  const std::string libssl11 = MakeFile("venv/lib/libssl.so.1.1");
  SetProcess(600, python, {});

  auto m = Make();
  m->Start(0);
  const uint64_t exec = 3 * kSec;
  m->OnExec(600, exec);
  EXPECT_TRUE(attaches_.empty());
  EXPECT_TRUE(m->Summary().processes.empty());

  // dlopen after the first look.
  SetProcess(600, python, {libssl3});
  m->Tick(exec + 200 * kMs - 1);
  EXPECT_TRUE(attaches_.empty());
  m->Tick(exec + 200 * kMs);
  ASSERT_EQ(attaches_.size(), 1u);
  EXPECT_EQ(attaches_[0].name, "libssl.so.3");
  EXPECT_EQ(m->Summary().processes, (std::map<Key, int>{{{"openssl", "visible"}, 1}}));

  // Another one later still.
  SetProcess(600, python, {libssl3, libssl11});
  m->Tick(exec + kSec - 1);
  EXPECT_EQ(attaches_.size(), 1u);
  m->Tick(exec + kSec);
  ASSERT_EQ(attaches_.size(), 2u);
  EXPECT_EQ(attaches_[1].name, "libssl.so.1.1");
  ManagerSummary s = m->Summary();
  // Two files of the same (library, visibility): the process is counted once.
  EXPECT_EQ(s.processes, (std::map<Key, int>{{{"openssl", "visible"}, 1}}));
  EXPECT_EQ(s.binaries_attached, (std::map<std::string, int>{{"openssl", 2}}));

  // No re-inspection is left before the rescan: a change goes unseen until then.
  SetProcess(600, python, {});
  m->Tick(exec + 5 * kSec);
  EXPECT_TRUE(detaches_.empty());
  EXPECT_EQ(m->Summary().binaries_attached, (std::map<std::string, int>{{"openssl", 2}}));
  m->Tick(options_.rescan_interval_ns);
  EXPECT_EQ(detaches_.size(), 2u);
  EXPECT_TRUE(m->Summary().processes.empty());
  EXPECT_TRUE(m->Summary().binaries_attached.empty());
}

TEST_F(TlsManager, RescanDropsVanishedAndFindsNewProcesses) {
  options_.rescan_interval_ns = 10 * kSec;
  const std::string copy = MakeFile("container/usr/lib/libssl.so.3");
  const std::string app = MakeFile("srv/app-go");
  SetProcess(700, MakeFile("container/usr/bin/curl"), {copy});
  SetProcess(701, app, {});

  auto m = Make();
  m->Start(0);
  ASSERT_EQ(attaches_.size(), 2u);

  // Its exit was missed (no OnExit): only the rescan notices.
  RemoveProcess(700);
  m->Tick(10 * kSec - 1);
  EXPECT_TRUE(detaches_.empty());
  EXPECT_EQ(m->Summary().processes,
            (std::map<Key, int>{{{"openssl", "visible"}, 1}, {{"go", "visible"}, 1}}));
  m->Tick(10 * kSec);
  EXPECT_EQ(detaches_, (std::vector<uint64_t>{HandleOf(copy)}));
  ManagerSummary s = m->Summary();
  EXPECT_EQ(s.processes, (std::map<Key, int>{{{"go", "visible"}, 1}}));
  EXPECT_EQ(s.binaries_attached, (std::map<std::string, int>{{"go", 1}}));

  // A process whose exec was missed is found by the next rescan.
  SetProcess(702, app, {copy});
  m->Tick(20 * kSec - 1);
  EXPECT_EQ(attaches_.size(), 2u);
  m->Tick(20 * kSec);
  ASSERT_EQ(attaches_.size(), 3u);
  EXPECT_EQ(attaches_[2].name, "libssl.so.3");
  s = m->Summary();
  EXPECT_EQ(s.processes, (std::map<Key, int>{{{"openssl", "visible"}, 1}, {{"go", "visible"}, 2}}));
  EXPECT_EQ(s.binaries_attached, (std::map<std::string, int>{{"openssl", 1}, {"go", 1}}));
}

TEST_F(TlsManager, SelfNeverInspected) {
  options_.self_pid = 800;
  const std::string app = MakeFile("srv/app-go");
  const std::string copy = MakeFile("container/usr/lib/libssl.so.3");
  SetProcess(800, app, {copy});

  auto m = Make();
  m->Start(0);
  m->OnExec(800, kSec);
  m->Tick(kSec + 200 * kMs);
  m->Tick(2 * kSec);
  m->Tick(options_.rescan_interval_ns);
  m->OnExit(800);
  EXPECT_TRUE(attaches_.empty());
  EXPECT_TRUE(detaches_.empty());
  EXPECT_TRUE(inspected_.empty());
  ManagerSummary s = m->Summary();
  EXPECT_TRUE(s.processes.empty());
  EXPECT_TRUE(s.binaries_attached.empty());
  EXPECT_EQ(s.inspected_binaries, 0u);

  // The same files run by another process are attached as usual.
  SetProcess(801, app, {copy});
  m->OnExec(801, 3 * kSec);
  EXPECT_EQ(attaches_.size(), 2u);
}

TEST_F(TlsManager, FileRewrittenInPlaceInspectedAgain) {
  // A deploy copying over the file keeps its identity (dev, inode), as does a new file
  // reusing a freed inode; what was found in the old content must not stick to it.
  const std::string app = MakeFile("srv/app");
  acts_as_["app"] = "curl";  // no TLS in this build
  SetProcess(950, app, {});

  auto m = Make();
  m->Start(0);
  EXPECT_TRUE(attaches_.empty());
  // Unchanged, it is not inspected again.
  SetProcess(951, app, {});
  m->OnExec(951, kSec);
  EXPECT_EQ(inspected_["app"], 1);
  m->OnExit(950);
  m->OnExit(951);
  RemoveProcess(950);
  RemoveProcess(951);

  struct stat before {};
  ASSERT_EQ(stat(app.c_str(), &before), 0);
  std::ofstream(app, std::ios::trunc) << "a new build of app, with crypto/tls linked in";
  struct stat after {};
  ASSERT_EQ(stat(app.c_str(), &after), 0);
  ASSERT_EQ(after.st_ino, before.st_ino);
  acts_as_["app"] = "app-go";

  SetProcess(952, app, {});
  m->OnExec(952, 2 * kSec);
  EXPECT_EQ(inspected_["app"], 2);
  ASSERT_EQ(attaches_.size(), 1u);
  EXPECT_EQ(attaches_[0].specs, kGoSpecs);
  EXPECT_EQ(m->Summary().processes, (std::map<Key, int>{{{"go", "visible"}, 1}}));
}

}  // namespace
