#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>

#include "metrics/process_collector.h"

namespace sightline::metrics {
namespace {

struct Sample {
  prometheus::MetricType type;
  double value;
};

std::map<std::string, Sample> Scrape(const ProcessCollector& collector) {
  std::map<std::string, Sample> out;
  for (const auto& family : collector.Collect()) {
    EXPECT_EQ(family.metric.size(), 1u) << family.name;
    EXPECT_TRUE(family.metric.at(0).label.empty()) << family.name;
    const auto& m = family.metric.at(0);
    out[family.name] = {family.type,
                        family.type == prometheus::MetricType::Counter
                            ? m.counter.value
                            : m.gauge.value};
  }
  return out;
}

TEST(ProcessCollector, ExposesExactNamesAndTypes) {
  const ProcessCollector collector;
  const auto samples = Scrape(collector);
  using prometheus::MetricType;
  const std::map<std::string, MetricType> expected = {
      {"process_cpu_seconds_total", MetricType::Counter},
      {"process_resident_memory_bytes", MetricType::Gauge},
      {"process_virtual_memory_bytes", MetricType::Gauge},
      {"process_open_fds", MetricType::Gauge},
      {"process_max_fds", MetricType::Gauge},
      {"process_start_time_seconds", MetricType::Gauge},
  };
  ASSERT_EQ(samples.size(), expected.size());
  for (const auto& [name, type] : expected) {
    ASSERT_EQ(samples.count(name), 1u) << name;
    EXPECT_EQ(samples.at(name).type, type) << name;
  }
}

TEST(ProcessCollector, ValuesArePlausible) {
  const ProcessCollector collector;
  // Burn CPU until at least one clock tick is accounted to this process.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  volatile uint64_t sink = 0;
  while (Scrape(collector).at("process_cpu_seconds_total").value <= 0 &&
         std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 1000000; ++i) sink = sink + i;
  }
  const auto s = Scrape(collector);
  EXPECT_GT(s.at("process_cpu_seconds_total").value, 0);
  EXPECT_GT(s.at("process_resident_memory_bytes").value, 1 << 20);
  EXPECT_GE(s.at("process_virtual_memory_bytes").value,
            s.at("process_resident_memory_bytes").value);
  EXPECT_GE(s.at("process_open_fds").value, 3);  // stdin, stdout, stderr
  EXPECT_GE(s.at("process_max_fds").value, s.at("process_open_fds").value);

  const double now = std::chrono::duration<double>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const double start = s.at("process_start_time_seconds").value;
  EXPECT_LE(start, now + 1);          // btime has one-second resolution
  EXPECT_GT(start, now - 24 * 3600);  // the test binary started recently
}

TEST(ProcessCollector, OpenFdsFollowsOpenAndClose) {
  const ProcessCollector collector;
  const double before = Scrape(collector).at("process_open_fds").value;
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const double during = Scrape(collector).at("process_open_fds").value;
  close(fd);
  const double after = Scrape(collector).at("process_open_fds").value;
  EXPECT_EQ(during, before + 1);
  EXPECT_EQ(after, before);
}

}  // namespace
}  // namespace sightline::metrics
