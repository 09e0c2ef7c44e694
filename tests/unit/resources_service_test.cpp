#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "metrics/process_collector.h"
#include "resources/service_collector.h"
#include "temp_dir.h"

namespace sightline::resources {
namespace {

using prometheus::MetricType;

// "name{k=v,k=v,}" -> value, labels in emission order.
using Samples = std::map<std::string, double>;

Samples Scrape(const prometheus::Collectable& collector, std::set<std::string>* names = nullptr) {
  Samples out;
  std::set<std::string> seen;
  for (const auto& family : collector.Collect()) {
    EXPECT_TRUE(seen.insert(family.name).second) << "duplicate family " << family.name;
    for (const auto& m : family.metric) {
      std::string key = family.name + "{";
      for (const auto& l : m.label) key += l.name + "=" + l.value + ",";
      key += "}";
      EXPECT_FALSE(out.count(key)) << "duplicate series " << key;
      out[key] = family.type == MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  if (names) *names = seen;
  return out;
}

// Samples whose name starts with `prefix`.
Samples Only(const Samples& s, const std::string& prefix) {
  Samples out;
  for (const auto& [k, v] : s) {
    if (k.rfind(prefix, 0) == 0) out[k] = v;
  }
  return out;
}

constexpr long kHz = 100;
constexpr long kPage = 4096;

class ResourcesServiceTest : public sightline::testing::TempDirTest {
 protected:
  ResourcesServiceTest() : TempDirTest("resources-service") {}

  void SetUp() override {
    TempDirTest::SetUp();
    Put("uptime", "1000.00 1800.00\n");
  }

  void Put(const std::string& name, const std::string& text) {
    std::filesystem::create_directories((dir_ / name).parent_path());
    Write(name, std::vector<uint8_t>(text.begin(), text.end()));
  }

  // A /proc/<pid> with a stat line of these values and `fds` descriptors.
  void Proc(uint32_t pid, uint64_t utime, uint64_t stime, uint64_t threads, uint64_t start,
            uint64_t vsize, uint64_t rss_pages, int fds, const std::string& comm = "srv") {
    const std::string p = std::to_string(pid);
    Put(p + "/stat", p + " (" + comm + ") S 1 1 1 0 -1 4194304 10 0 0 0 " + std::to_string(utime) +
                         " " + std::to_string(stime) + " 0 0 20 0 " + std::to_string(threads) +
                         " 0 " + std::to_string(start) + " " + std::to_string(vsize) + " " +
                         std::to_string(rss_pages) +
                         " 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n");
    std::filesystem::remove_all(dir_ / p / "fd");
    std::filesystem::create_directories(dir_ / p / "fd");
    for (int i = 0; i < fds; ++i) Put(p + "/fd/" + std::to_string(i), "");
  }

  void Gone(uint32_t pid) { std::filesystem::remove_all(dir_ / std::to_string(pid)); }

  ServiceCollectorOptions Options(bool pid_label = false, std::size_t max = 4096) const {
    ServiceCollectorOptions o;
    o.proc_root = dir_.string();
    o.pid_label = pid_label;
    o.max_processes = max;
    o.ticks_per_second = kHz;
    o.page_size = kPage;
    return o;
  }
};

TEST_F(ResourcesServiceTest, SumsTheProcessesOfAService) {
  Proc(100, 250, 50, 4, 1000, 100'000'000, 1000, 5);
  Proc(101, 130, 20, 2, 5000, 50'000'000, 500, 3);
  Proc(200, 7, 3, 1, 2000, 10'000'000, 100, 1);
  ServiceCollector c(Options());
  c.Note(100, "api");
  c.Note(101, "api");
  c.Note(200, "worker");
  const Samples s = Scrape(c);
  const Samples expected = {
      {"process_cpu_time_seconds_total{service_name=api,cpu_mode=user,}", 3.8},
      {"process_cpu_time_seconds_total{service_name=api,cpu_mode=system,}", 0.7},
      {"process_cpu_time_seconds_total{service_name=worker,cpu_mode=user,}", 0.07},
      {"process_cpu_time_seconds_total{service_name=worker,cpu_mode=system,}", 0.03},
      {"process_memory_usage_bytes{service_name=api,}", 1500.0 * kPage},
      {"process_memory_usage_bytes{service_name=worker,}", 100.0 * kPage},
      {"process_memory_virtual_bytes{service_name=api,}", 150'000'000},
      {"process_memory_virtual_bytes{service_name=worker,}", 10'000'000},
      {"process_open_file_descriptors{service_name=api,}", 8},
      {"process_open_file_descriptors{service_name=worker,}", 1},
      {"process_threads{service_name=api,}", 6},
      {"process_threads{service_name=worker,}", 1},
      {"process_instances{service_name=api,}", 2},
      {"process_instances{service_name=worker,}", 1},
      // uptime 1000 s; the newest api process started 50 s after boot
      {"process_uptime_seconds{service_name=api,}", 950},
      {"process_uptime_seconds{service_name=worker,}", 980},
      {"sightline_service_processes{}", 3},
      {"sightline_service_processes_shed_total{reason=process_limit,}", 0},
      {"sightline_service_processes_shed_total{reason=service_limit,}", 0},
      {"sightline_service_processes_shed_total{reason=exited_before_read,}", 0},
      {"sightline_service_processes_shed_total{reason=note_overflow,}", 0},
      {"sightline_service_proc_read_errors_total{file=stat,}", 0},
      {"sightline_service_proc_read_errors_total{file=fd,}", 0},
  };
  ASSERT_EQ(s.size(), expected.size());
  for (const auto& [k, v] : expected) {
    ASSERT_TRUE(s.count(k)) << k;
    EXPECT_DOUBLE_EQ(s.at(k), v) << k;
  }
  EXPECT_EQ(c.size(), 3u);
}

TEST_F(ResourcesServiceTest, SameNameInTwoNamespacesIsTwoServices) {
  Proc(100, 250, 50, 4, 1000, 100'000'000, 1000, 5);
  Proc(101, 130, 20, 2, 5000, 50'000'000, 500, 3);
  ServiceCollector c(Options());
  const std::map<std::string, std::string> shop = {
      {"service_name", "api"}, {"k8s_namespace_name", "shop"}, {"k8s_container_name", "app"}};
  const std::map<std::string, std::string> staging = {
      {"service_name", "api"}, {"k8s_namespace_name", "staging"}, {"k8s_container_name", "app"}};
  c.Note(100, "api|shop", shop);
  c.Note(101, "api|staging", staging);
  const Samples s = Scrape(c);
  EXPECT_DOUBLE_EQ(
      s.at("process_cpu_time_seconds_total{k8s_container_name=app,k8s_namespace_name=shop,"
           "service_name=api,cpu_mode=user,}"),
      2.5);
  EXPECT_DOUBLE_EQ(
      s.at("process_cpu_time_seconds_total{k8s_container_name=app,k8s_namespace_name=staging,"
           "service_name=api,cpu_mode=user,}"),
      1.3);
  EXPECT_DOUBLE_EQ(
      s.at("process_instances{k8s_container_name=app,k8s_namespace_name=staging,service_name=api,}"),
      1);
  EXPECT_EQ(s.count("process_instances{service_name=api,}"), 0u);
}

TEST_F(ResourcesServiceTest, UnnotedProcessesAreNotFollowed) {
  Proc(100, 250, 50, 4, 1000, 100, 10, 1);
  Proc(101, 999, 999, 4, 1000, 100, 10, 1);
  ServiceCollector c(Options());
  c.Note(100, "api");
  const Samples s = Scrape(c);
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=api,cpu_mode=user,}"), 2.5);
  EXPECT_DOUBLE_EQ(s.at("process_instances{service_name=api,}"), 1);
  EXPECT_EQ(c.size(), 1u);
}

TEST_F(ResourcesServiceTest, ExitedProcessKeepsItsCpuInTheService) {
  Proc(100, 200, 40, 4, 1000, 1000, 10, 2);
  Proc(101, 100, 10, 1, 3000, 1000, 10, 2);
  ServiceCollector c(Options());
  c.Note(100, "api");
  c.Note(101, "api");
  c.Sweep();
  // The worker keeps running, is read by the once-a-second sweep, then exits
  // before any scrape: the CPU the sweep saw is not lost.
  Proc(101, 180, 30, 1, 3000, 1000, 10, 2);
  c.Sweep();
  Gone(101);
  Proc(100, 210, 45, 4, 1000, 1000, 10, 2);
  const Samples s = Scrape(c);
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=api,cpu_mode=user,}"),
                   (210 + 180) / 100.0);
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=api,cpu_mode=system,}"),
                   (45 + 30) / 100.0);
  EXPECT_DOUBLE_EQ(s.at("process_instances{service_name=api,}"), 1);
  EXPECT_DOUBLE_EQ(s.at("process_threads{service_name=api,}"), 4);
  EXPECT_EQ(c.size(), 1u);

  // The last process goes: the counter stays, the gauges go, instances is 0.
  Gone(100);
  const Samples after = Scrape(c);
  EXPECT_DOUBLE_EQ(after.at("process_cpu_time_seconds_total{service_name=api,cpu_mode=user,}"),
                   3.9);
  EXPECT_DOUBLE_EQ(after.at("process_instances{service_name=api,}"), 0);
  EXPECT_FALSE(after.count("process_threads{service_name=api,}"));
  EXPECT_FALSE(after.count("process_memory_usage_bytes{service_name=api,}"));
  EXPECT_DOUBLE_EQ(after.at("sightline_service_processes{}"), 0);
  EXPECT_EQ(c.size(), 0u);

  // A new process of the service adds to what the exited ones used.
  Proc(102, 5, 5, 1, 9000, 1000, 10, 2);
  c.Note(102, "api");
  const Samples back = Scrape(c);
  EXPECT_DOUBLE_EQ(back.at("process_cpu_time_seconds_total{service_name=api,cpu_mode=user,}"),
                   3.95);
  EXPECT_DOUBLE_EQ(back.at("process_instances{service_name=api,}"), 1);
}

TEST_F(ResourcesServiceTest, ReusedPidIsANewProcess) {
  Proc(100, 200, 40, 4, 1000, 1000, 10, 2);
  ServiceCollector c(Options());
  c.Note(100, "api");
  Scrape(c);
  // Another program got the pid (a later start time) and was never noted:
  // the old process's CPU stays, the new one's is not counted.
  Proc(100, 7000, 7000, 9, 1500, 1000, 10, 2);
  Samples s = Scrape(c);
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=api,cpu_mode=user,}"), 2.0);
  EXPECT_DOUBLE_EQ(s.at("process_instances{service_name=api,}"), 0);
  EXPECT_EQ(c.size(), 0u);

  // The new process opens a connection itself: it counts from its own start.
  c.Note(100, "other");
  s = Scrape(c);
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=api,cpu_mode=user,}"), 2.0);
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=other,cpu_mode=user,}"), 70.0);
  EXPECT_DOUBLE_EQ(s.at("process_threads{service_name=other,}"), 9);

  // Reused again between two reads, by a process of the same service noted
  // after it started: the old one is folded, the new one followed.
  Proc(100, 3, 1, 2, 1700, 1000, 10, 2);
  c.Note(100, "other");
  s = Scrape(c);
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=other,cpu_mode=user,}"),
                   70.03);
  EXPECT_DOUBLE_EQ(s.at("process_instances{service_name=other,}"), 1);
  EXPECT_DOUBLE_EQ(s.at("process_threads{service_name=other,}"), 2);
}

TEST_F(ResourcesServiceTest, NoteOlderThanTheProcessOnItsPidIsNotAdopted) {
  // A start time far in the future of the boot clock: the pid's process
  // started after the note, so the noted one is gone and was never read.
  Proc(100, 5, 5, 1, uint64_t{1} << 60, 1000, 10, 2);
  ServiceCollector c(Options());
  c.Note(100, "api");
  const Samples s = Scrape(c);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_FALSE(s.count("process_instances{service_name=api,}"));
  EXPECT_DOUBLE_EQ(s.at("sightline_service_processes_shed_total{reason=exited_before_read,}"), 1);
  // Noted and gone before the first read: counted the same way.
  c.Note(555, "api");
  EXPECT_DOUBLE_EQ(
      Scrape(c).at("sightline_service_processes_shed_total{reason=exited_before_read,}"), 2);
}

TEST_F(ResourcesServiceTest, ExecMovesTheProcessToItsNewService) {
  Proc(100, 200, 40, 4, 1000, 1000, 10, 2);
  ServiceCollector c(Options());
  c.Note(100, "launcher");
  Scrape(c);
  Proc(100, 260, 50, 4, 1000, 1000, 10, 2);
  c.Note(100, "api");
  Samples s = Scrape(c);
  // What it used before the new name stays with the old one.
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=launcher,cpu_mode=user,}"),
                   2.6);
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=api,cpu_mode=user,}"), 0);
  EXPECT_DOUBLE_EQ(s.at("process_instances{service_name=launcher,}"), 0);
  EXPECT_DOUBLE_EQ(s.at("process_instances{service_name=api,}"), 1);
  Proc(100, 300, 50, 4, 1000, 1000, 10, 2);
  s = Scrape(c);
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=api,cpu_mode=user,}"), 0.4);
}

TEST_F(ResourcesServiceTest, CpuNeverGoesBack) {
  Proc(100, 200, 40, 4, 1000, 1000, 10, 2);
  ServiceCollector c(Options());
  c.Note(100, "api");
  Scrape(c);
  Proc(100, 150, 30, 4, 1000, 1000, 10, 2);
  const Samples s = Scrape(c);
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=api,cpu_mode=user,}"), 2.0);
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=api,cpu_mode=system,}"), 0.4);
}

TEST_F(ResourcesServiceTest, CommandNamesWithSpacesAndParentheses) {
  Proc(100, 200, 40, 4, 1000, 1000, 10, 2, "my (odd) name) x");
  ServiceCollector c(Options());
  c.Note(100, "api");
  const Samples s = Scrape(c);
  EXPECT_DOUBLE_EQ(s.at("process_cpu_time_seconds_total{service_name=api,cpu_mode=user,}"), 2.0);
  EXPECT_DOUBLE_EQ(s.at("sightline_service_proc_read_errors_total{file=stat,}"), 0);
}

TEST_F(ResourcesServiceTest, MalformedFilesAreCountedNotFatal) {
  ServiceCollector c(Options());
  const std::vector<std::string> bad = {
      "",                                                                             // empty
      "100 (srv S 1 1 1",                                                             // no ')'
      "100 (srv) S 1 1 1 0 -1 4194304 10 0 0 0 250",                                  // cut short
      "100 (srv) S 1 1 1 0 -1 4194304 10 0 0 0 x 50 0 0 20 0 4 0 1000 100 10 0\n",    // utime
      "100 (srv) S 1 1 1 0 -1 4194304 10 0 0 0 25 50 0 0 20 0 4 0 1000 -100 10 0\n",  // vsize
      "100 (srv) S 1 1 1 0 -1 4194304 10 0 0 0 99999999999999999999999 5 0 0 20 0 4 0 1 1 1\n",
      std::string(5000, '7'),  // larger than any stat line
  };
  uint32_t pid = 300;
  for (const auto& text : bad) {
    Put(std::to_string(pid) + "/stat", text);
    c.Note(pid, "bad");
    ++pid;
  }
  // A process with a good stat but an fd entry that is not a directory.
  Proc(400, 1, 1, 1, 1000, 1000, 10, 0);
  std::filesystem::remove_all(dir_ / "400" / "fd");
  Put("400/fd", "not a directory");
  c.Note(400, "good");
  Put("uptime", "garbage");
  const Samples s = Scrape(c);
  EXPECT_DOUBLE_EQ(s.at("sightline_service_proc_read_errors_total{file=stat,}"),
                   static_cast<double>(bad.size()));
  EXPECT_DOUBLE_EQ(s.at("sightline_service_proc_read_errors_total{file=fd,}"), 1);
  EXPECT_EQ(c.size(), 1u);
  EXPECT_FALSE(s.count("process_instances{service_name=bad,}"));
  EXPECT_DOUBLE_EQ(s.at("process_instances{service_name=good,}"), 1);
  // No fd count and no uptime known: those series are left out, not zero.
  EXPECT_FALSE(s.count("process_open_file_descriptors{service_name=good,}"));
  EXPECT_FALSE(s.count("process_uptime_seconds{service_name=good,}"));

  // A followed process whose stat turns malformed keeps its last reading.
  Proc(401, 50, 0, 1, 1000, 1000, 10, 0);
  c.Note(401, "good");
  Scrape(c);
  Put("401/stat", "401 (srv) S garbage");
  const Samples later = Scrape(c);
  EXPECT_DOUBLE_EQ(later.at("process_cpu_time_seconds_total{service_name=good,cpu_mode=user,}"),
                   0.51);
  EXPECT_DOUBLE_EQ(later.at("sightline_service_proc_read_errors_total{file=stat,}"),
                   static_cast<double>(bad.size() + 1));
}

TEST_F(ResourcesServiceTest, PidLabelGivesOneSeriesPerProcess) {
  Proc(100, 250, 50, 4, 1000, 100'000'000, 1000, 5);
  Proc(101, 130, 20, 2, 5000, 50'000'000, 500, 3);
  ServiceCollector c(Options(/*pid_label=*/true));
  c.Note(100, "api");
  c.Note(101, "api");
  Samples s = Scrape(c);
  const Samples expected = {
      {"process_cpu_time_seconds_total{service_name=api,process_pid=100,cpu_mode=user,}", 2.5},
      {"process_cpu_time_seconds_total{service_name=api,process_pid=100,cpu_mode=system,}", 0.5},
      {"process_cpu_time_seconds_total{service_name=api,process_pid=101,cpu_mode=user,}", 1.3},
      {"process_cpu_time_seconds_total{service_name=api,process_pid=101,cpu_mode=system,}", 0.2},
      {"process_memory_usage_bytes{service_name=api,process_pid=100,}", 1000.0 * kPage},
      {"process_memory_usage_bytes{service_name=api,process_pid=101,}", 500.0 * kPage},
      {"process_memory_virtual_bytes{service_name=api,process_pid=100,}", 100'000'000},
      {"process_memory_virtual_bytes{service_name=api,process_pid=101,}", 50'000'000},
      {"process_open_file_descriptors{service_name=api,process_pid=100,}", 5},
      {"process_open_file_descriptors{service_name=api,process_pid=101,}", 3},
      {"process_threads{service_name=api,process_pid=100,}", 4},
      {"process_threads{service_name=api,process_pid=101,}", 2},
      {"process_instances{service_name=api,process_pid=100,}", 1},
      {"process_instances{service_name=api,process_pid=101,}", 1},
      {"process_uptime_seconds{service_name=api,process_pid=100,}", 990},
      {"process_uptime_seconds{service_name=api,process_pid=101,}", 950},
  };
  EXPECT_EQ(Only(s, "process_"), expected);

  // An exited process's CPU moves to the service's process_pid="exited" series.
  Gone(101);
  s = Scrape(c);
  EXPECT_FALSE(s.count("process_threads{service_name=api,process_pid=101,}"));
  EXPECT_DOUBLE_EQ(
      s.at("process_cpu_time_seconds_total{service_name=api,process_pid=exited,cpu_mode=user,}"),
      1.3);
  EXPECT_DOUBLE_EQ(
      s.at("process_cpu_time_seconds_total{service_name=api,process_pid=exited,cpu_mode=system,}"),
      0.2);
  EXPECT_DOUBLE_EQ(
      s.at("process_cpu_time_seconds_total{service_name=api,process_pid=100,cpu_mode=user,}"), 2.5);
}

TEST_F(ResourcesServiceTest, TableIsBoundedAndShedProcessesCountedOnce) {
  for (uint32_t pid = 100; pid < 104; ++pid) Proc(pid, 10, 0, 1, 1000, 1000, 10, 1);
  ServiceCollector c(Options(false, /*max=*/2));
  c.Note(100, "svc100");
  c.Note(101, "svc101");
  c.Sweep();
  c.Note(102, "svc102");
  c.Note(103, "svc103");
  Samples s = Scrape(c);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_DOUBLE_EQ(s.at("sightline_service_processes_shed_total{reason=process_limit,}"), 2);
  // Noted again at their next connections: still the same two processes.
  for (uint32_t pid = 100; pid < 104; ++pid) c.Note(pid, "svc" + std::to_string(pid));
  s = Scrape(c);
  EXPECT_DOUBLE_EQ(s.at("sightline_service_processes_shed_total{reason=process_limit,}"), 2);

  // Room again once the followed ones exit; a service with no process left
  // is forgotten to make room for a new name, and that is counted too.
  Gone(100);
  Gone(101);
  c.Note(102, "svc102");
  c.Note(103, "svc103");
  s = Scrape(c);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_DOUBLE_EQ(s.at("sightline_service_processes_shed_total{reason=service_limit,}"), 2);
  EXPECT_FALSE(s.count("process_instances{service_name=svc100,}"));
  EXPECT_DOUBLE_EQ(s.at("process_instances{service_name=svc103,}"), 1);

  // Notes wait at most a second for the sweep; past twice the table's size
  // in that time, a connection's note is dropped and counted.
  for (uint32_t pid = 1000; pid < 1005; ++pid) c.Note(pid, "burst");
  s = Scrape(c);
  EXPECT_DOUBLE_EQ(s.at("sightline_service_processes_shed_total{reason=note_overflow,}"), 1);
  EXPECT_DOUBLE_EQ(s.at("sightline_service_processes_shed_total{reason=exited_before_read,}"), 4);
}

TEST_F(ResourcesServiceTest, NamesNeverClashWithTheDaemonsOwnProcessMetrics) {
  Proc(100, 250, 50, 4, 1000, 100'000'000, 1000, 5);
  ServiceCollector c(Options());
  c.Note(100, "api");
  std::set<std::string> ours, own;
  Scrape(c, &ours);
  Scrape(metrics::ProcessCollector(), &own);
  ASSERT_GE(ours.size(), 10u);
  ASSERT_GE(own.size(), 5u);
  for (const auto& name : ours) EXPECT_FALSE(own.count(name)) << name;
}

}  // namespace
}  // namespace sightline::resources
