// Access-log configuration: the brief's unprefixed environment variables
// (LOG_FILE, LOG_LEVEL, LOG_RETENTION_DAYS, ENVIRONMENT) apply unless a flag
// or its SIGHTLINE_* variable says otherwise; bad values stop the daemon at
// start naming the setting. Also container ids from cgroup files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/options.h"
#include "logs/container.h"

namespace {

namespace config = sightline::config;
namespace logs = sightline::logs;

// Sets environment variables for one test and removes them after.
struct Env {
  std::vector<std::string> names;
  void Set(const char* name, const char* value) {
    setenv(name, value, 1);
    names.push_back(name);
  }
  ~Env() {
    for (const auto& n : names) unsetenv(n.c_str());
  }
};

config::ParseResult Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "sightline");
  return config::Parse(int(args.size()), args.data());
}

TEST(LogsConfig, Defaults) {
  auto r = Parse({});
  ASSERT_EQ(r.command, config::Command::kRun);
  EXPECT_EQ(r.options.access_log, "all");
  EXPECT_EQ(r.options.log_file, "");
  EXPECT_EQ(r.options.log_retention_days, 30u);
  EXPECT_EQ(r.options.access_log_level, "info");
  EXPECT_EQ(r.options.log_rate_limit, 1000);
  EXPECT_EQ(r.options.correlation_headers,
            (std::vector<std::string>{"traceparent", "x-request-id", "x-correlation-id"}));
}

TEST(LogsConfig, BriefsUnprefixedVariables) {
  Env env;
  env.Set("LOG_FILE", "/var/log/x.log");
  env.Set("LOG_LEVEL", "WARNING");
  env.Set("LOG_RETENTION_DAYS", "7");
  env.Set("ENVIRONMENT", "staging");
  auto r = Parse({});
  ASSERT_EQ(r.command, config::Command::kRun);
  EXPECT_EQ(r.options.log_file, "/var/log/x.log");
  EXPECT_EQ(r.options.access_log_level, "WARNING");
  EXPECT_EQ(r.options.log_retention_days, 7u);
  EXPECT_EQ(r.options.environment, "staging");

  // A flag or a SIGHTLINE_* variable wins.
  env.Set("SIGHTLINE_LOG_FILE", "/srv/y.log");
  r = Parse({"--environment", "prod-eu", "--log-retention-days", "3"});
  EXPECT_EQ(r.options.log_file, "/srv/y.log");
  EXPECT_EQ(r.options.environment, "prod-eu");
  EXPECT_EQ(r.options.log_retention_days, 3u);
}

TEST(LogsConfig, BadValuesStopAtStart) {
  {
    Env env;
    env.Set("LOG_RETENTION_DAYS", "a week");
    EXPECT_EQ(Parse({}).exit_code, 2);
  }
  {
    Env env;
    env.Set("LOG_LEVEL", "loud");
    EXPECT_EQ(Parse({}).exit_code, 2);
  }
  EXPECT_EQ(Parse({"--access-log", "some"}).exit_code, 2);
  EXPECT_EQ(Parse({"--access-log-sample-rate", "1.5"}).exit_code, 2);
  EXPECT_EQ(Parse({"--mask-pattern", "(unclosed"}).exit_code, 2);
  EXPECT_EQ(Parse({"--correlation-headers", "x request id"}).exit_code, 2);
  EXPECT_EQ(Parse({"--access-log", "sample", "--access-log-sample-rate", "0.25"}).exit_code, 0);
}

TEST(LogsConfig, ContainerIdFromCgroup) {
  const std::string id = "3f2a9c4e5b6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f";
  EXPECT_EQ(logs::ContainerIdFromCgroup("0::/system.slice/docker-" + id + ".scope\n"), id);
  EXPECT_EQ(logs::ContainerIdFromCgroup("0::/kubepods/burstable/pod1234/cri-containerd-" + id +
                                        ".scope\n"),
            id);
  EXPECT_EQ(logs::ContainerIdFromCgroup("12:memory:/docker/" + id + "\n"), id);
  EXPECT_EQ(logs::ContainerIdFromCgroup("0::/user.slice/user-1000.slice/session-2.scope\n"), "");
  EXPECT_EQ(logs::ContainerIdFromCgroup("0::/x/" + id + "ab\n"), "");  // 66 hex digits

  char tmpl[] = "/tmp/sightline-logs-cgroup-XXXXXX";
  const std::string root = mkdtemp(tmpl);
  std::filesystem::create_directories(root + "/42");
  std::ofstream(root + "/42/cgroup") << "0::/system.slice/docker-" << id << ".scope\n";
  logs::ContainerIds ids(root, 16, 1000);
  EXPECT_EQ(ids.Lookup(42, 1), id);
  EXPECT_EQ(ids.Lookup(43, 1), "");
  std::filesystem::remove_all(root);
  EXPECT_EQ(ids.Lookup(42, 500), id);   // cached
  EXPECT_EQ(ids.Lookup(42, 5000), id);  // gone: the last id known stays
}

}  // namespace
