// Alert signals: exact ratios, rates and cost per hour over sliding windows,
// percentiles within the sketch's stated error, node-level signals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "alerts/signals.h"

namespace sightline::alerts {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

Rule RuleFor(Signal s, uint32_t window, uint32_t min_requests = 1) {
  Rule r;
  r.signal = s;
  r.window_seconds = window;
  r.min_requests = min_requests;
  r.levels[0] = 1;
  return r;
}

TEST(AlertsSignals, ErrorRateIsServerFiveHundredsOverAllInTheWindow) {
  Signals s;
  // 100 s: 7 requests each second, of which 500, 503, 404 and 200s.
  for (uint64_t t = 0; t < 100; ++t) {
    for (int status : {500, 503, 404, 200, 200, 201, 599}) {
      s.ObserveHttp("api", status, 0.01, (2000 + t) * kSec);
    }
  }
  const uint64_t now = 2099 * kSec + kSec / 3;
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kHttpErrorRate, 60), "api", now), 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kHttpRequestRate, 60), "api", now), 7.0);
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kHttpRequestRate, 1), "api", now), 7.0);
  EXPECT_FALSE(s.Value(RuleFor(Signal::kHttpErrorRate, 60), "other", now));
}

TEST(AlertsSignals, WindowSlidesSecondBySecond) {
  Signals s;
  for (uint64_t t = 0; t < 10; ++t) s.ObserveHttp("api", 500, 0.01, (100 + t) * kSec);
  for (uint64_t t = 10; t < 20; ++t) s.ObserveHttp("api", 200, 0.01, (100 + t) * kSec);
  const Rule r = RuleFor(Signal::kHttpErrorRate, 10);
  EXPECT_DOUBLE_EQ(*s.Value(r, "api", 109 * kSec), 1.0);
  EXPECT_DOUBLE_EQ(*s.Value(r, "api", 114 * kSec), 0.5);  // seconds 105..114
  EXPECT_DOUBLE_EQ(*s.Value(r, "api", 119 * kSec), 0.0);
  EXPECT_FALSE(s.Value(r, "api", 140 * kSec));  // nothing left in the window
}

TEST(AlertsSignals, MinRequestsGatesRatiosAndPercentilesOnly) {
  Signals s;
  for (int i = 0; i < 4; ++i) s.ObserveHttp("api", 500, 0.5, 10 * kSec);
  EXPECT_FALSE(s.Value(RuleFor(Signal::kHttpErrorRate, 60, 5), "api", 10 * kSec));
  EXPECT_FALSE(s.Value(RuleFor(Signal::kHttpP95Latency, 60, 5), "api", 10 * kSec));
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kHttpRequestRate, 4, 5), "api", 10 * kSec), 1.0);
  s.ObserveHttp("api", 200, 0.5, 10 * kSec);
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kHttpErrorRate, 60, 5), "api", 10 * kSec), 0.8);
}

TEST(AlertsSignals, PercentilesWithinTheSketchError) {
  Signals s;
  std::mt19937 rng(7);
  std::lognormal_distribution<double> dist(-3.0, 1.2);
  std::vector<double> all;
  for (uint64_t t = 0; t < 30; ++t) {
    for (int i = 0; i < 500; ++i) {
      const double v = dist(rng);
      all.push_back(v);
      s.ObserveHttp("api", 200, v, (50 + t) * kSec);
    }
  }
  std::sort(all.begin(), all.end());
  const auto exact = [&](double q) {
    return all[static_cast<size_t>(std::ceil(q * double(all.size()))) - 1];
  };
  const uint64_t now = 79 * kSec;
  const double p95 = *s.Value(RuleFor(Signal::kHttpP95Latency, 30), "api", now);
  const double p99 = *s.Value(RuleFor(Signal::kHttpP99Latency, 30), "api", now);
  const double tol = LatencySketch::kRelativeError * (1 + 1e-9);
  EXPECT_LE(std::abs(p95 - exact(0.95)) / exact(0.95), tol) << p95 << " vs " << exact(0.95);
  EXPECT_LE(std::abs(p99 - exact(0.99)) / exact(0.99), tol) << p99 << " vs " << exact(0.99);
  EXPECT_LT(LatencySketch::kRelativeError, 0.01);
}

TEST(AlertsSignals, SketchIsBoundedWhateverTheSamples) {
  LatencySketch k;
  for (int i = 0; i < 100000; ++i) k.Add(1e-7 * std::pow(1.0003, i));  // 1e-7 s to ~1e6 s
  k.Add(-1);
  k.Add(std::nan(""));
  EXPECT_EQ(k.count(), 100002u);
  EXPECT_LE(k.buckets(), 1200u);
  EXPECT_NEAR(*k.Quantile(1.0), LatencySketch::kMax, LatencySketch::kMax * 0.01);
}

TEST(AlertsSignals, QuantileOfAFewValuesIsTheNearestRank) {
  LatencySketch k;
  for (double v : {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}) k.Add(v);
  EXPECT_NEAR(*k.Quantile(0.95), 1.0, 1.0 * LatencySketch::kRelativeError);
  EXPECT_NEAR(*k.Quantile(0.5), 0.5, 0.5 * LatencySketch::kRelativeError);
  EXPECT_FALSE(LatencySketch{}.Quantile(0.5));
}

TEST(AlertsSignals, AiCostPerHourErrorsAndRateLimits) {
  Signals s;
  // 300 s window: 3 calls costing 0.25 USD each, one of them a 429.
  s.ObserveAiCall("agent", 200, false, 0.25, 1000 * kSec);
  s.ObserveAiCall("agent", 200, false, 0.25, 1100 * kSec);
  s.ObserveAiCall("agent", 429, true, 0.25, 1200 * kSec);
  s.ObserveAiCall("agent", 200, true, 0.0, 1200 * kSec);  // an error inside a 200 stream
  const uint64_t now = 1200 * kSec;
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kGenAiCostPerHour, 300), "agent", now), 9.0);
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kGenAiErrorRate, 300), "agent", now), 0.5);
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kGenAiRateLimitedRatio, 300), "agent", now), 0.25);
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kGenAiCostPerHour, 60), "agent", now), 15.0);
}

TEST(AlertsSignals, NodeCpuMemoryDiskAndLostEvents) {
  Signals s;
  NodeSample n;
  n.cpu_busy_ticks = 1000;
  n.cpu_total_ticks = 4000;
  n.memory_utilization = 0.5;
  n.disk_utilization = 0.9;
  n.events_lost = 10;
  s.ObserveNode(n, 10 * kSec);  // the baseline
  n.cpu_busy_ticks = 1300;
  n.cpu_total_ticks = 4400;  // 300 of 400
  n.memory_utilization = 0.7;
  n.events_lost = 40;
  s.ObserveNode(n, 11 * kSec);
  n.cpu_busy_ticks = 1400;
  n.cpu_total_ticks = 4800;  // 100 of 400
  n.memory_utilization = 0.9;
  n.events_lost = 70;
  s.ObserveNode(n, 12 * kSec);
  const uint64_t now = 12 * kSec;
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kSystemCpu, 2), "", now), 0.5);
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kSystemCpu, 1), "", now), 0.25);
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kSystemMemory, 2), "", now), 0.8);
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kSystemDisk, 2), "", now), 0.9);
  EXPECT_DOUBLE_EQ(*s.Value(RuleFor(Signal::kEventsLostRate, 2), "", now), 30.0);
}

TEST(AlertsSignals, ServicesPastTheLimitAreCountedNotFollowed) {
  SignalsOptions o;
  o.max_services = 2;
  Signals s(o);
  s.ObserveHttp("a", 200, 0.01, kSec);
  s.ObserveHttp("b", 200, 0.01, kSec);
  s.ObserveHttp("c", 200, 0.01, kSec);
  s.ObserveAiCall("d", 200, false, 1, kSec);
  EXPECT_EQ(s.services(), 2u);
  EXPECT_EQ(s.services_dropped(), 2u);
}

TEST(AlertsSignals, ExpireForgetsServicesPastTheLongestWindow) {
  SignalsOptions o;
  o.max_window_seconds = 60;
  Signals s(o);
  s.ObserveHttp("a", 200, 0.01, 100 * kSec);
  s.Expire(159 * kSec);
  EXPECT_EQ(s.services(), 1u);
  s.Expire(160 * kSec);
  EXPECT_EQ(s.services(), 0u);
}

}  // namespace
}  // namespace sightline::alerts
