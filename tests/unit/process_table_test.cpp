// Service names from a fake /proc, and from what the kernel saw for a process
// that is already gone.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "process/process_table.h"

namespace {

namespace fs = std::filesystem;
using sightline::process::ProcessTable;
using sightline::process::ServiceNameFromEnviron;

class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("sightline-proc-" + std::to_string(getpid()));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void AddProcess(uint32_t pid, const std::string& exe, const std::string& environ) {
    fs::path dir = root_ / std::to_string(pid);
    fs::create_directories(dir);
    fs::create_symlink(exe, dir / "exe");
    std::ofstream(dir / "environ", std::ios::binary) << environ;
  }
  fs::path root_;
};

TEST(ServiceName, FromEnviron) {
  using namespace std::string_literals;
  EXPECT_EQ(ServiceNameFromEnviron("A=1\0OTEL_SERVICE_NAME=api\0B=2\0"s), "api");
  EXPECT_EQ(ServiceNameFromEnviron("OTEL_SERVICE_NAME=\0"s), std::nullopt);
  EXPECT_EQ(ServiceNameFromEnviron("XOTEL_SERVICE_NAME=api\0"s), std::nullopt);
  EXPECT_EQ(ServiceNameFromEnviron("OTEL_SERVICE_NAME=last"s), "last");  // cut block
}

TEST_F(FakeProc, EnvironWinsOverExecutable) {
  using namespace std::string_literals;
  AddProcess(10, "/usr/bin/python3.11", "OTEL_SERVICE_NAME=billing\0"s);
  AddProcess(11, "/usr/sbin/nginx", "PATH=/bin\0"s);
  ProcessTable t(root_.string(), "");
  EXPECT_EQ(t.Lookup(10, "python3", 1).service_name, "billing");
  EXPECT_EQ(t.Lookup(11, "nginx", 1).service_name, "nginx");
  EXPECT_EQ(t.Lookup(12, "gone", 1).service_name, "gone");  // nothing in /proc: comm
}

TEST_F(FakeProc, GoneProcessNamedFromKernelView) {
  using namespace std::string_literals;
  ProcessTable t(root_.string(), "");
  t.Remember(20, "curl", "HOME=/root\0OTEL_SERVICE_NAME=probe-client\0"s, 5);
  EXPECT_EQ(t.Lookup(20, "curl", 6).service_name, "probe-client");
  t.Remember(21, "python3.11", "HOME=/root\0"s, 5);
  EXPECT_EQ(t.Lookup(21, "python3", 6).service_name, "python3.11");
  // Still named after the refresh interval, though /proc never had it.
  EXPECT_EQ(t.Lookup(20, "curl", 60'000'000'000ull).service_name, "probe-client");
}

TEST_F(FakeProc, KernelViewWinsOverAnEnvironmentWipedLater) {
  using namespace std::string_literals;
  // Alive, but its environment block was overwritten (process title, exit).
  AddProcess(40, "/usr/bin/python3.11", "\0\0\0\0"s);
  ProcessTable t(root_.string(), "", 100);
  t.Remember(40, "python3.11", "OTEL_SERVICE_NAME=exp-cli\0"s, 5);
  EXPECT_EQ(t.Lookup(40, "python3", 6).service_name, "exp-cli");
  EXPECT_EQ(t.Lookup(40, "python3", 1000).service_name, "exp-cli");  // after a refresh too
  t.Remember(41, "python3.11", "HOME=/\0"s, 5);
  AddProcess(41, "/usr/bin/python3.11", "OTEL_SERVICE_NAME=late\0"s);
  EXPECT_EQ(t.Lookup(41, "python3", 1000).service_name, "late");  // /proc when the kernel had none
}

TEST_F(FakeProc, ExeFilter) {
  AddProcess(30, "/usr/sbin/nginx", "");
  AddProcess(31, "/usr/bin/curl", "");
  ProcessTable t(root_.string(), "nginx$");
  EXPECT_TRUE(t.Observed(30, "nginx", 1));
  EXPECT_FALSE(t.Observed(31, "curl", 1));
}

}  // namespace
