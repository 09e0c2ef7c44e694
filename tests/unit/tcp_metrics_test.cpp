// The TCP health aggregation on a fake kernel map: per-process deltas summed
// per service, processes that exit folded in with their final counts, and
// the probe's own loss and attribution counters.
#include "metrics/tcp_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "metrics/self_metrics.h"

namespace {

namespace fs = std::filesystem;
using sightline::metrics::SelfMetrics;
using sightline::metrics::TcpMetrics;
using sightline::metrics::TcpStatsDelta;

// The kernel's tcp_stats map and counter array, in memory.
class FakeReader : public sightline::bpf::TcpStatsReader {
 public:
  std::vector<std::pair<uint32_t, sl_tcp_stats>> ReadStats() override {
    return {map.begin(), map.end()};
  }
  std::optional<sl_tcp_stats> TakeStats(uint32_t tgid) override {
    // Events that land between the read and the take.
    if (auto it = late.find(tgid); it != late.end()) {
      map[tgid].closed += it->second;
      late.erase(it);
    }
    auto it = map.find(tgid);
    if (it == map.end()) return std::nullopt;
    sl_tcp_stats s = it->second;
    map.erase(it);
    taken.push_back(tgid);
    return s;
  }
  std::array<uint64_t, SL_TCP_CNT_MAX> ReadCounters() override { return counters; }

  std::map<uint32_t, sl_tcp_stats> map;
  std::map<uint32_t, uint64_t> late;  // closes arriving between read and take
  std::vector<uint32_t> taken;
  std::array<uint64_t, SL_TCP_CNT_MAX> counters{};
};

sl_tcp_stats Stats(const char* comm) {
  sl_tcp_stats s{};
  std::strncpy(s.comm, comm, sizeof(s.comm) - 1);
  return s;
}

class TcpMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("sightline-tcp-proc-" + std::to_string(getpid()));
    fs::remove_all(root_);
    using namespace std::string_literals;
    AddProcess(10, "/usr/bin/python3", "OTEL_SERVICE_NAME=api\0"s);
    AddProcess(11, "/usr/bin/python3", "OTEL_SERVICE_NAME=api\0"s);
    AddProcess(12, "/usr/sbin/nginx", "PATH=/bin\0"s);
    AddProcess(13, "/usr/bin/curl", "OTEL_SERVICE_NAME=excluded\0"s);
  }
  void TearDown() override { fs::remove_all(root_); }

  void AddProcess(uint32_t pid, const std::string& exe, const std::string& environ) {
    fs::path dir = root_ / std::to_string(pid);
    fs::create_directories(dir);
    fs::create_symlink(exe, dir / "exe");
    std::ofstream(dir / "environ", std::ios::binary) << environ;
  }

  // The value of the one series of `name` with exactly `labels`; -1 when absent.
  double Value(const std::string& name, const prometheus::Labels& labels) {
    for (const auto& family : registry_.Collect()) {
      if (family.name != name) continue;
      for (const auto& m : family.metric) {
        prometheus::Labels got;
        for (const auto& l : m.label) got[l.name] = l.value;
        if (got == labels) return m.counter.value;
      }
    }
    return -1;
  }

  std::unique_ptr<TcpMetrics> Make(const std::string& exe_regex = "", size_t budget = 100) {
    processes_ = std::make_unique<sightline::process::ProcessTable>(root_.string(), exe_regex);
    return std::make_unique<TcpMetrics>(registry_, dropped_, *processes_, budget,
                                        [this](uint32_t pid) { return !dead_.count(pid); });
  }

  fs::path root_;
  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>& dropped_ =
      prometheus::BuildCounter().Name("sightline_series_dropped_total").Register(registry_);
  std::unique_ptr<sightline::process::ProcessTable> processes_;
  std::set<uint32_t> dead_;
  FakeReader reader_;
};

TEST_F(TcpMetricsTest, SumsProcessesPerService) {
  auto m = Make();
  auto& a = reader_.map[10] = Stats("python3");
  a.opened_active = 3;
  a.closed = 2;
  a.retransmits = 7;
  a.resets_received = 1;
  auto& b = reader_.map[11] = Stats("python3");
  b.opened_active = 2;
  b.failed[SL_TCP_FAIL_REFUSED] = 4;
  auto& c = reader_.map[12] = Stats("nginx");
  c.opened_passive = 5;
  c.closed = 5;
  c.failed[SL_TCP_FAIL_TIMEOUT] = 1;
  c.resets_sent = 2;
  m->Sweep(reader_, 1);

  EXPECT_EQ(
      Value("tcp_connections_opened_total", {{"service_name", "api"}, {"direction", "active"}}), 5);
  EXPECT_EQ(
      Value("tcp_connections_opened_total", {{"service_name", "nginx"}, {"direction", "passive"}}),
      5);
  EXPECT_EQ(
      Value("tcp_connections_opened_total", {{"service_name", "api"}, {"direction", "passive"}}),
      -1);
  EXPECT_EQ(Value("tcp_connections_closed_total", {{"service_name", "api"}}), 2);
  EXPECT_EQ(Value("tcp_connections_closed_total", {{"service_name", "nginx"}}), 5);
  EXPECT_EQ(
      Value("tcp_connection_failures_total", {{"service_name", "api"}, {"reason", "refused"}}), 4);
  EXPECT_EQ(
      Value("tcp_connection_failures_total", {{"service_name", "nginx"}, {"reason", "timeout"}}),
      1);
  EXPECT_EQ(Value("tcp_retransmits_total", {{"service_name", "api"}}), 7);
  EXPECT_EQ(Value("tcp_resets_total", {{"service_name", "api"}, {"direction", "received"}}), 1);
  EXPECT_EQ(Value("tcp_resets_total", {{"service_name", "nginx"}, {"direction", "sent"}}), 2);
  EXPECT_EQ(m->tracked_processes(), 3u);
  EXPECT_TRUE(reader_.taken.empty());
}

TEST_F(TcpMetricsTest, AddsOnlyWhatGrewSinceTheLastSweep) {
  auto m = Make();
  reader_.map[10] = Stats("python3");
  reader_.map[10].retransmits = 7;
  m->Sweep(reader_, 1);
  m->Sweep(reader_, 2);  // nothing new
  EXPECT_EQ(Value("tcp_retransmits_total", {{"service_name", "api"}}), 7);
  reader_.map[10].retransmits = 10;
  reader_.map[10].opened_active = 1;
  m->Sweep(reader_, 3);
  EXPECT_EQ(Value("tcp_retransmits_total", {{"service_name", "api"}}), 10);
  EXPECT_EQ(
      Value("tcp_connections_opened_total", {{"service_name", "api"}, {"direction", "active"}}), 1);
}

TEST_F(TcpMetricsTest, FoldsExitedProcessesWithTheirFinalCounts) {
  auto m = Make();
  reader_.map[11] = Stats("python3");
  reader_.map[11].opened_active = 3;
  reader_.map[11].closed = 1;
  m->Sweep(reader_, 1);
  EXPECT_EQ(m->tracked_processes(), 1u);

  // It exits with more counted since, and two closes land between the read
  // and the take.
  dead_.insert(11);
  fs::remove_all(root_ / "11");
  reader_.map[11].closed = 2;
  reader_.late[11] = 2;
  m->Sweep(reader_, 2);
  EXPECT_EQ(reader_.taken, std::vector<uint32_t>{11});
  EXPECT_EQ(reader_.map.count(11), 0u);
  EXPECT_EQ(m->tracked_processes(), 0u);
  // Named as it was while alive.
  EXPECT_EQ(Value("tcp_connections_closed_total", {{"service_name", "api"}}), 4);
  EXPECT_EQ(
      Value("tcp_connections_opened_total", {{"service_name", "api"}, {"direction", "active"}}), 3);

  // A socket of the gone process closes later: the kernel makes a new entry.
  reader_.map[11] = Stats("python3");
  reader_.map[11].closed = 1;
  m->Sweep(reader_, 3);
  EXPECT_EQ(Value("tcp_connections_closed_total", {{"service_name", "api"}}), 5);
  EXPECT_EQ(reader_.map.count(11), 0u);
}

TEST_F(TcpMetricsTest, ProcessSeenOnlyAfterItsExitIsNamedByItsTaskName) {
  auto m = Make();
  dead_.insert(40);
  reader_.map[40] = Stats("shortlived");
  reader_.map[40].failed[SL_TCP_FAIL_REFUSED] = 3;
  m->Sweep(reader_, 1);
  EXPECT_EQ(Value("tcp_connection_failures_total",
                  {{"service_name", "shortlived"}, {"reason", "refused"}}),
            3);
  EXPECT_EQ(reader_.map.count(40), 0u);
}

TEST_F(TcpMetricsTest, ExecutableFilterLeavesProcessesOut) {
  auto m = Make("^/usr/bin/python3$");
  reader_.map[10] = Stats("python3");
  reader_.map[10].opened_active = 1;
  reader_.map[13] = Stats("curl");
  reader_.map[13].opened_active = 9;
  m->Sweep(reader_, 1);
  EXPECT_EQ(
      Value("tcp_connections_opened_total", {{"service_name", "api"}, {"direction", "active"}}), 1);
  EXPECT_EQ(Value("tcp_connections_opened_total",
                  {{"service_name", "excluded"}, {"direction", "active"}}),
            -1);
}

TEST_F(TcpMetricsTest, MirrorsKernelLossAndUnattributedCounters) {
  auto m = Make();
  // Lost events go to the daemon's own health, like every probe's.
  SelfMetrics self(registry_);
  self.UpdateTcpKernel(m->Sweep(reader_, 1), {});
  EXPECT_EQ(Value("sightline_events_lost_total", {{"probe", "tcp"}, {"reason", "socket_map_full"}}),
            0);
  EXPECT_EQ(Value("sightline_tcp_unattributed_total", {{"event", "closed"}}), 0);
  reader_.counters[SL_TCP_CNT_OWNER_MAP_FULL] = 2;
  reader_.counters[SL_TCP_CNT_STATS_MAP_FULL] = 3;
  reader_.counters[SL_TCP_CNT_UNATTR_CLOSED] = 4;
  reader_.counters[SL_TCP_CNT_UNATTR_RETRANSMITS] = 5;
  reader_.counters[SL_TCP_CNT_RESETS_SENT_NO_SOCKET] = 6;
  self.UpdateTcpKernel(m->Sweep(reader_, 2), {});
  reader_.counters[SL_TCP_CNT_UNATTR_CLOSED] = 10;
  self.UpdateTcpKernel(m->Sweep(reader_, 3), {});
  EXPECT_EQ(Value("sightline_events_lost_total", {{"probe", "tcp"}, {"reason", "socket_map_full"}}),
            2);
  EXPECT_EQ(
      Value("sightline_events_lost_total", {{"probe", "tcp"}, {"reason", "process_map_full"}}), 3);
  EXPECT_EQ(Value("sightline_tcp_unattributed_total", {{"event", "closed"}}), 10);
  EXPECT_EQ(Value("sightline_tcp_unattributed_total", {{"event", "retransmits"}}), 5);
  EXPECT_EQ(Value("sightline_tcp_unattributed_total", {{"event", "resets_sent_no_socket"}}), 6);

  self.UpdateTcpKernel(reader_.counters,
                       {{"sl_tcp_set_state", 100, 5000, 1}, {"sl_tcp_retransmit", 7, 0, 2}});
  self.UpdateTcpKernel(reader_.counters,
                       {{"sl_tcp_set_state", 150, 5000, 4}, {"sl_tcp_retransmit", 7, 0, 2}});
  EXPECT_EQ(Value("sightline_events_lost_total", {{"probe", "tcp"}, {"reason", "program_not_run"}}),
            6);
  EXPECT_EQ(
      Value("sightline_probe_runs_total", {{"probe", "tcp"}, {"program", "sl_tcp_set_state"}}),
      150);
}

TEST_F(TcpMetricsTest, SeriesBudgetFoldsNewLabelSets) {
  auto m = Make("", 1);
  reader_.map[10] = Stats("python3");
  reader_.map[10].opened_active = 1;
  m->Sweep(reader_, 1);
  reader_.map[12] = Stats("nginx");
  reader_.map[12].opened_passive = 2;
  m->Sweep(reader_, 2);
  // Past the budget a new label set keeps its service and folds the rest.
  EXPECT_EQ(
      Value("tcp_connections_opened_total", {{"service_name", "api"}, {"direction", "active"}}), 1);
  EXPECT_EQ(
      Value("tcp_connections_opened_total", {{"service_name", "nginx"}, {"direction", "passive"}}),
      -1);
  EXPECT_EQ(Value("tcp_connections_opened_total",
                  {{"service_name", "nginx"}, {"direction", "_overflow"}}),
            2);
  EXPECT_EQ(Value("sightline_series_dropped_total", {{"metric", "tcp_connections_opened_total"}}),
            1);
}

TEST(TcpStatsDelta, FieldwiseAndFromZeroWhenRecreated) {
  sl_tcp_stats a{}, b{};
  a.opened_active = 5;
  b.opened_active = 2;
  a.failed[SL_TCP_FAIL_OTHER] = 1;
  a.closed = 1;  // below b: the entry was recreated, counts from zero
  b.closed = 4;
  auto d = TcpStatsDelta(a, b);
  EXPECT_EQ(d.opened_active, 3u);
  EXPECT_EQ(d.failed[SL_TCP_FAIL_OTHER], 1u);
  EXPECT_EQ(d.closed, 1u);
}

}  // namespace
