#include <gtest/gtest.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "resources/host_collector.h"
#include "temp_dir.h"

namespace sightline::resources {
namespace {

using prometheus::MetricType;

// "name{k=v,k=v}" -> value, labels in emission order.
using Samples = std::map<std::string, double>;

struct Scraped {
  Samples samples;
  std::map<std::string, MetricType> types;
};

Scraped Scrape(const HostCollector& collector) {
  Scraped out;
  for (const auto& family : collector.Collect()) {
    EXPECT_FALSE(family.metric.empty()) << family.name;
    EXPECT_FALSE(out.types.count(family.name)) << "duplicate family " << family.name;
    out.types[family.name] = family.type;
    for (const auto& m : family.metric) {
      std::string key = family.name + "{";
      for (const auto& l : m.label) key += l.name + "=" + l.value + ",";
      key += "}";
      EXPECT_FALSE(out.samples.count(key)) << "duplicate series " << key;
      out.samples[key] = family.type == MetricType::Counter   ? m.counter.value
                         : family.type == MetricType::Untyped ? m.untyped.value
                                                              : m.gauge.value;
    }
  }
  return out;
}

// A fake statvfs: fixed numbers per mount point, failing for any other.
HostCollector::StatFs FakeStatFs() {
  return [](const std::string& mountpoint, struct statvfs* out) {
    *out = {};
    if (mountpoint == "/") {
      out->f_frsize = 4096;
      out->f_bsize = 4096;
      out->f_blocks = 1000;
      out->f_bfree = 400;
      out->f_bavail = 300;
      return true;
    }
    if (mountpoint == "/data disk") {
      out->f_frsize = 1024;
      out->f_blocks = 2000;
      out->f_bfree = 2000;
      out->f_bavail = 2000;
      return true;
    }
    if (mountpoint == "/empty") {  // no blocks: left out
      out->f_frsize = 1024;
      return true;
    }
    return false;
  };
}

class ResourcesHostTest : public sightline::testing::TempDirTest {
 protected:
  ResourcesHostTest() : TempDirTest("resources-host") {}

  void SetUp() override {
    TempDirTest::SetUp();
    std::filesystem::create_directories(dir_ / "self");
    std::filesystem::create_directories(dir_ / "net");
  }

  void Put(const std::string& name, const std::string& text) {
    Write(name, std::vector<uint8_t>(text.begin(), text.end()));
  }

  void WriteAll() {
    Put("stat",
        "cpu  1000 200 300 4000 500 60 70 80 90 0\n"
        "cpu0 500 100 150 2000 250 30 35 40 45 0\n"
        "cpu1 500 100 150 2000 250 30 35 40 45 0\n"
        "cpuX garbage\n"
        "cpu2 1 2\n"
        "intr 12345 1 2\n"
        "btime 1700000000\n");
    Put("meminfo",
        "MemTotal:       16000000 kB\n"
        "MemFree:         2000000 kB\n"
        "MemAvailable:    8000000 kB\n"
        "Buffers:          500000 kB\n"
        "Cached:          3000000 kB\n"
        "Garbage line\n"
        "SwapCached:            x kB\n"
        "SReclaimable:     400000 kB\n"
        "HugePages_Total:       0\n");
    Put("diskstats",
        "   8       0 sda 100 5 2000 50 200 10 4000 80 0 100 130\n"
        "   8       1 sda1 10 0 80 5 20 0 160 8 0 10 13\n"
        "   7       0 loop0 9 0 9 0 9 0 9 0 0 0 0\n"
        "   1       0 ram0 9 0 9 0 9 0 9 0 0 0 0\n"
        " 259       0 nvme0n1 7 x 7 0 7 0 7 0 0 0 0\n"
        " 259       1 short 1 2 3\n");
    Put("net/dev",
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
        "errs drop fifo colls carrier compressed\n"
        "    lo:  1000      10    0    0    0     0          0         0     1000      10    0 "
        "   0    0     0       0          0\n"
        "  eth0:5000 50 1 2 0 0 0 0 6000 60 3 4 0 0 0 0\n"
        "  bad0: 1 2 3\n"
        "  bad1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 z\n");
    Put("loadavg", "0.52 1.25 2.00 3/456 7890\n");
    Put("self/mountinfo",
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "23 22 0:5 / /proc rw shared:2 - proc proc rw\n"
        "24 22 0:20 / /run rw shared:3 - tmpfs tmpfs rw\n"
        "25 22 0:30 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw\n"
        "26 22 8:1 /srv /srv/bind rw - ext4 /dev/sda1 rw\n"
        "27 22 8:2 / /data\\040disk rw - xfs /dev/sda2 rw\n"
        "28 22 8:3 / /empty rw - ext4 /dev/sda3 rw\n"
        "29 22 8:4 / /gone rw - ext4 /dev/sda4 rw\n"
        "30 22 8:5 / /malformed rw ext4 /dev/sda5\n");
  }

  std::string Root() const { return dir_.string(); }
};

TEST_F(ResourcesHostTest, ExactValuesForEveryFamily) {
  WriteAll();
  const HostCollector collector(Root(), FakeStatFs());
  Put("stat",
      "cpu  1100 200 320 4060 520 60 70 80 90 0\n"
      "cpu0 550 100 160 2030 260 30 35 40 45 0\n"
      "cpu1 550 100 160 2030 260 30 35 40 45 0\n");
  const auto s = Scrape(collector);
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double kib = 1024;
  const Samples expected = {
      {"system_cpu_time_seconds_total{state=user,}", 1100 / hz},
      {"system_cpu_time_seconds_total{state=nice,}", 200 / hz},
      {"system_cpu_time_seconds_total{state=system,}", 320 / hz},
      {"system_cpu_time_seconds_total{state=idle,}", 4060 / hz},
      {"system_cpu_time_seconds_total{state=iowait,}", 520 / hz},
      {"system_cpu_time_seconds_total{state=irq,}", 60 / hz},
      {"system_cpu_time_seconds_total{state=softirq,}", 70 / hz},
      {"system_cpu_time_seconds_total{state=steal,}", 80 / hz},
      // busy +120 of total +200 since construction
      {"system_cpu_utilization_ratio{}", 0.6},
      {"system_cpu_logical_count{}", 2},
      {"system_memory_usage_bytes{state=used,}",
       (16000000 - 2000000 - 500000 - 3000000 - 400000) * kib},
      {"system_memory_usage_bytes{state=free,}", 2000000 * kib},
      {"system_memory_usage_bytes{state=buffers,}", 500000 * kib},
      {"system_memory_usage_bytes{state=cached,}", 3000000 * kib},
      {"system_memory_usage_bytes{state=available,}", 8000000 * kib},
      {"system_memory_limit_bytes{}", 16000000 * kib},
      {"system_memory_utilization_ratio{}", 0.5},
      {"system_filesystem_usage_bytes{device=/dev/sda1,mountpoint=/,type=ext4,state=used,}",
       600 * 4096.0},
      {"system_filesystem_usage_bytes{device=/dev/sda1,mountpoint=/,type=ext4,state=free,}",
       300 * 4096.0},
      {"system_filesystem_usage_bytes{device=/dev/sda1,mountpoint=/,type=ext4,state=reserved,}",
       100 * 4096.0},
      {"system_filesystem_utilization_ratio{device=/dev/sda1,mountpoint=/,type=ext4,}", 0.6},
      {"system_filesystem_usage_bytes{device=/dev/sda2,mountpoint=/data disk,type=xfs,state=used,}",
       0},
      {"system_filesystem_usage_bytes{device=/dev/sda2,mountpoint=/data disk,type=xfs,state=free,}",
       2000 * 1024.0},
      {"system_filesystem_usage_bytes{device=/dev/sda2,mountpoint=/data disk,type=xfs,state="
       "reserved,}",
       0},
      {"system_filesystem_utilization_ratio{device=/dev/sda2,mountpoint=/data disk,type=xfs,}", 0},
      {"system_disk_io_bytes_total{device=sda,direction=read,}", 2000 * 512.0},
      {"system_disk_io_bytes_total{device=sda,direction=write,}", 4000 * 512.0},
      {"system_disk_operations_total{device=sda,direction=read,}", 100},
      {"system_disk_operations_total{device=sda,direction=write,}", 200},
      {"system_disk_io_bytes_total{device=sda1,direction=read,}", 80 * 512.0},
      {"system_disk_io_bytes_total{device=sda1,direction=write,}", 160 * 512.0},
      {"system_disk_operations_total{device=sda1,direction=read,}", 10},
      {"system_disk_operations_total{device=sda1,direction=write,}", 20},
      {"system_network_io_bytes_total{device=lo,direction=receive,}", 1000},
      {"system_network_io_bytes_total{device=lo,direction=transmit,}", 1000},
      {"system_network_packets_total{device=lo,direction=receive,}", 10},
      {"system_network_packets_total{device=lo,direction=transmit,}", 10},
      {"system_network_errors_total{device=lo,direction=receive,}", 0},
      {"system_network_errors_total{device=lo,direction=transmit,}", 0},
      {"system_network_dropped_total{device=lo,direction=receive,}", 0},
      {"system_network_dropped_total{device=lo,direction=transmit,}", 0},
      {"system_network_io_bytes_total{device=eth0,direction=receive,}", 5000},
      {"system_network_io_bytes_total{device=eth0,direction=transmit,}", 6000},
      {"system_network_packets_total{device=eth0,direction=receive,}", 50},
      {"system_network_packets_total{device=eth0,direction=transmit,}", 60},
      {"system_network_errors_total{device=eth0,direction=receive,}", 1},
      {"system_network_errors_total{device=eth0,direction=transmit,}", 3},
      {"system_network_dropped_total{device=eth0,direction=receive,}", 2},
      {"system_network_dropped_total{device=eth0,direction=transmit,}", 4},
      {"system_load_average_1m{}", 0.52},
      {"system_load_average_5m{}", 1.25},
      {"system_load_average_15m{}", 2.00},
  };
  ASSERT_EQ(s.samples.size(), expected.size());
  for (const auto& [key, value] : expected) {
    const auto it = s.samples.find(key);
    ASSERT_NE(it, s.samples.end()) << key;
    EXPECT_DOUBLE_EQ(it->second, value) << key;
  }
  const std::map<std::string, MetricType> types = {
      {"system_cpu_time_seconds_total", MetricType::Counter},
      {"system_cpu_utilization_ratio", MetricType::Gauge},
      {"system_cpu_logical_count", MetricType::Untyped},
      {"system_memory_usage_bytes", MetricType::Gauge},
      {"system_memory_limit_bytes", MetricType::Gauge},
      {"system_memory_utilization_ratio", MetricType::Gauge},
      {"system_filesystem_usage_bytes", MetricType::Gauge},
      {"system_filesystem_utilization_ratio", MetricType::Gauge},
      {"system_disk_io_bytes_total", MetricType::Counter},
      {"system_disk_operations_total", MetricType::Counter},
      {"system_network_io_bytes_total", MetricType::Counter},
      {"system_network_packets_total", MetricType::Counter},
      {"system_network_errors_total", MetricType::Counter},
      {"system_network_dropped_total", MetricType::Counter},
      {"system_load_average_1m", MetricType::Gauge},
      {"system_load_average_5m", MetricType::Gauge},
      {"system_load_average_15m", MetricType::Gauge},
  };
  EXPECT_EQ(s.types, types);
}

TEST_F(ResourcesHostTest, UtilizationIsSincePreviousScrape) {
  WriteAll();
  const HostCollector collector(Root(), FakeStatFs());
  // No change since construction: nothing elapsed, 0.
  EXPECT_DOUBLE_EQ(Scrape(collector).samples.at("system_cpu_utilization_ratio{}"), 0);
  // +100 ticks all busy (user +50, system +50).
  Put("stat", "cpu  1050 200 350 4000 500 60 70 80 0 0\n");
  EXPECT_DOUBLE_EQ(Scrape(collector).samples.at("system_cpu_utilization_ratio{}"), 1.0);
  // +400 ticks: 100 busy (steal), 200 idle, 100 iowait.
  Put("stat", "cpu  1050 200 350 4200 600 60 70 180 0 0\n");
  EXPECT_DOUBLE_EQ(Scrape(collector).samples.at("system_cpu_utilization_ratio{}"), 0.25);
}

TEST_F(ResourcesHostTest, MissingFilesGiveNoSeries) {
  const HostCollector empty(Root(), FakeStatFs());
  EXPECT_TRUE(empty.Collect().empty());
  const HostCollector nowhere((dir_ / "does-not-exist").string());
  EXPECT_TRUE(nowhere.Collect().empty());

  // Only loadavg present: only the load families.
  Put("loadavg", "1.00 2.00 3.00 1/1 1\n");
  const auto s = Scrape(HostCollector(Root(), FakeStatFs()));
  EXPECT_EQ(s.samples, (Samples{{"system_load_average_1m{}", 1.0},
                                {"system_load_average_5m{}", 2.0},
                                {"system_load_average_15m{}", 3.0}}));
}

TEST_F(ResourcesHostTest, MalformedContentsAreSkipped) {
  Put("stat", "cpu  a b c d e f g h\nnothing here\n");
  Put("meminfo", "MemTotal: lots kB\nMemFree: 12 kB\n");
  Put("diskstats", "garbage\n8 0 sda x y z\n");
  Put("net/dev", "header\nheader\n  eth0: 1 2 3\n");
  Put("loadavg", "high\n");
  Put("self/mountinfo", "not a mountinfo line\n");
  const HostCollector collector(Root(), FakeStatFs());
  EXPECT_TRUE(collector.Collect().empty());
}

TEST_F(ResourcesHostTest, MemoryWithoutMemAvailableOmitsItsSeries) {
  Put("meminfo", "MemTotal: 1000 kB\nMemFree: 600 kB\nBuffers: 100 kB\nCached: 100 kB\n");
  const auto s = Scrape(HostCollector(Root(), FakeStatFs()));
  EXPECT_EQ(s.samples, (Samples{{"system_memory_usage_bytes{state=used,}", 200 * 1024.0},
                                {"system_memory_usage_bytes{state=free,}", 600 * 1024.0},
                                {"system_memory_usage_bytes{state=buffers,}", 100 * 1024.0},
                                {"system_memory_usage_bytes{state=cached,}", 100 * 1024.0},
                                {"system_memory_limit_bytes{}", 1000 * 1024.0}}));
}

TEST_F(ResourcesHostTest, RealProcRootDoesNotThrow) {
  const HostCollector collector;
  const auto s = Scrape(collector);
  EXPECT_TRUE(s.types.count("system_memory_limit_bytes"));
  EXPECT_TRUE(s.types.count("system_cpu_time_seconds_total"));
}

}  // namespace
}  // namespace sightline::resources
