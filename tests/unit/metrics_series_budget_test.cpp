#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "metrics/series_budget.h"
#include "prometheus/registry.h"

namespace sightline::metrics {
namespace {

using prometheus::Labels;

// Value of sightline_series_dropped_total{metric=name}, or -1 if absent.
double DroppedFor(const prometheus::Family<prometheus::Counter>& dropped,
                  const std::string& name) {
  for (const auto& family : dropped.Collect()) {
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "metric" && label.value == name) {
          return metric.counter.value;
        }
      }
    }
  }
  return -1;
}

std::size_t SeriesIn(const prometheus::Collectable& family) {
  std::size_t n = 0;
  for (const auto& f : family.Collect()) n += f.metric.size();
  return n;
}

class SeriesBudgetTest : public ::testing::Test {
 protected:
  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>& dropped_ =
      prometheus::BuildCounter()
          .Name(std::string(kSeriesDroppedMetric))
          .Help("Label sets folded into the overflow series.")
          .Register(registry_);
  prometheus::Family<prometheus::Counter>& requests_ =
      prometheus::BuildCounter()
          .Name("test_requests_total")
          .Help("Requests.")
          .Register(registry_);
};

Labels Request(const std::string& service, const std::string& route) {
  return {{"service_name", service}, {"http_route", route}, {"method", "GET"}};
}

TEST_F(SeriesBudgetTest, DroppedSeriesExistsAtZero) {
  BudgetedCounter counter(requests_, 3, dropped_);
  EXPECT_EQ(DroppedFor(dropped_, "test_requests_total"), 0);
  EXPECT_EQ(counter.series(), 0u);
  EXPECT_EQ(counter.budget(), 3u);
}

TEST_F(SeriesBudgetTest, FoldsPastBudgetKeepingServiceName) {
  BudgetedCounter counter(requests_, 3, dropped_);
  prometheus::Counter& a = counter.Get(Request("shop", "/a"));
  counter.Get(Request("shop", "/b"));
  counter.Get(Request("cart", "/a"));
  EXPECT_EQ(counter.series(), 3u);
  EXPECT_EQ(counter.dropped(), 0);

  // Admitted label sets keep their own series after the budget is spent.
  prometheus::Counter& c = counter.Get(Request("shop", "/c"));
  EXPECT_EQ(&counter.Get(Request("shop", "/a")), &a);
  EXPECT_NE(&c, &a);
  EXPECT_EQ(counter.series(), 3u);
  EXPECT_EQ(counter.dropped(), 1);

  const Labels overflow = {{"service_name", "shop"},
                           {"http_route", "_overflow"},
                           {"method", "_overflow"}};
  EXPECT_TRUE(requests_.Has(overflow));
  EXPECT_FALSE(requests_.Has(Request("shop", "/c")));

  // A different refused set from the same service shares the overflow.
  EXPECT_EQ(&counter.Get(Request("shop", "/d")), &c);
  EXPECT_EQ(counter.dropped(), 2);

  // Another service gets its own overflow series.
  prometheus::Counter& other = counter.Get(Request("admin", "/x"));
  EXPECT_NE(&other, &c);
  EXPECT_TRUE(requests_.Has({{"service_name", "admin"},
                             {"http_route", "_overflow"},
                             {"method", "_overflow"}}));
  EXPECT_EQ(counter.series(), 3u);
  EXPECT_EQ(counter.dropped(), 3);
  EXPECT_EQ(DroppedFor(dropped_, "test_requests_total"), 3);
  EXPECT_EQ(SeriesIn(requests_), 5u);  // 3 admitted + 2 overflow
}

TEST_F(SeriesBudgetTest, RepeatedRefusedSetCountsOnce) {
  BudgetedCounter counter(requests_, 1, dropped_);
  counter.Get(Request("shop", "/a"));
  for (int i = 0; i < 10; ++i) counter.Get(Request("shop", "/b")).Increment();
  EXPECT_EQ(counter.dropped(), 1);
  EXPECT_EQ(counter.Get(Request("shop", "/b")).Value(), 10);
  EXPECT_EQ(SeriesIn(requests_), 2u);
}

TEST_F(SeriesBudgetTest, WithoutServiceNameEveryValueFolds) {
  BudgetedCounter counter(requests_, 0, dropped_);
  counter.Get({{"model", "gpt"}, {"provider", "openai"}});
  EXPECT_TRUE(
      requests_.Has({{"model", "_overflow"}, {"provider", "_overflow"}}));
  EXPECT_EQ(counter.series(), 0u);
  EXPECT_EQ(counter.dropped(), 1);
  EXPECT_EQ(OverflowLabels({{"service_name", "api"}, {"a", "1"}}),
            (Labels{{"service_name", "api"}, {"a", "_overflow"}}));
}

TEST_F(SeriesBudgetTest, OverflowKeepsThePodLabelsOfTheService) {
  EXPECT_EQ(OverflowLabels({{"service_name", "checkout"},
                            {"k8s_namespace_name", "shop"},
                            {"k8s_pod_name", "checkout-7d9f8b6c5-x2x9k"},
                            {"k8s_container_name", "app"},
                            {"http_route", "/a"}}),
            (Labels{{"service_name", "checkout"},
                    {"k8s_namespace_name", "shop"},
                    {"k8s_pod_name", "checkout-7d9f8b6c5-x2x9k"},
                    {"k8s_container_name", "app"},
                    {"http_route", "_overflow"}}));
}

TEST_F(SeriesBudgetTest, MemoryOfRefusalsIsBounded) {
  BudgetedCounter counter(requests_, 0, dropped_, /*max_remembered=*/2);
  counter.Get(Request("s", "/a"));
  counter.Get(Request("s", "/b"));
  counter.Get(Request("s", "/a"));  // remembered: not counted again
  EXPECT_EQ(counter.dropped(), 2);
  counter.Get(Request("s", "/c"));  // memory full: counted every time
  counter.Get(Request("s", "/c"));
  counter.Get(Request("s", "/b"));  // still remembered
  EXPECT_EQ(counter.dropped(), 4);
}

TEST_F(SeriesBudgetTest, HistogramsUseTheGivenBuckets) {
  auto& durations = prometheus::BuildHistogram()
                        .Name("test_duration_seconds")
                        .Help("Durations.")
                        .Register(registry_);
  BudgetedHistogram histogram(durations, 1, dropped_, {0.1, 1.0});
  histogram.Get(Request("shop", "/a")).Observe(0.05);
  histogram.Get(Request("shop", "/b")).Observe(0.5);
  histogram.Get(Request("shop", "/c")).Observe(5);
  EXPECT_EQ(histogram.series(), 1u);
  EXPECT_EQ(histogram.dropped(), 2);
  EXPECT_EQ(DroppedFor(dropped_, "test_duration_seconds"), 2);

  const auto families = durations.Collect();
  ASSERT_EQ(families.size(), 1u);
  ASSERT_EQ(families[0].metric.size(), 2u);
  for (const auto& metric : families[0].metric) {
    ASSERT_EQ(metric.histogram.bucket.size(), 3u);  // 0.1, 1, +Inf
    EXPECT_EQ(metric.histogram.bucket[0].upper_bound, 0.1);
    EXPECT_EQ(metric.histogram.bucket[1].upper_bound, 1.0);
    const bool overflow =
        std::any_of(metric.label.begin(), metric.label.end(),
                    [](const auto& l) { return l.value == "_overflow"; });
    EXPECT_EQ(metric.histogram.sample_count, overflow ? 2u : 1u);
    EXPECT_EQ(metric.histogram.bucket[1].cumulative_count, 1u);
  }
}

TEST_F(SeriesBudgetTest, GaugesAreBudgetedToo) {
  auto& gauges = prometheus::BuildGauge()
                     .Name("test_connections")
                     .Help("Connections.")
                     .Register(registry_);
  BudgetedGauge gauge(gauges, 2, dropped_);
  gauge.Get({{"service_name", "a"}}).Set(1);
  gauge.Get({{"service_name", "b"}}).Set(2);
  gauge.Get({{"service_name", "c"}}).Set(3);
  // Only service_name: the overflow series keeps it, so it looks like "c".
  EXPECT_TRUE(gauges.Has({{"service_name", "c"}}));
  EXPECT_EQ(gauge.series(), 2u);
  EXPECT_EQ(gauge.dropped(), 1);
}

TEST_F(SeriesBudgetTest, ConcurrentGetsAccountExactly) {
  BudgetedCounter counter(requests_, 50, dropped_);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&counter, t] {
      for (int i = 0; i < kPerThread; ++i) {
        counter.Get(Request("svc", "/" + std::to_string(t * kPerThread + i)))
            .Increment();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.series(), 50u);
  EXPECT_EQ(counter.dropped(), kThreads * kPerThread - 50);
  double total = 0;
  for (const auto& f : requests_.Collect()) {
    for (const auto& m : f.metric) total += m.counter.value;
  }
  EXPECT_EQ(total, kThreads * kPerThread);
  EXPECT_EQ(SeriesIn(requests_), 51u);
}

TEST(HashLabels, SeparatesNamesFromValues) {
  EXPECT_NE(HashLabels({{"a", "bc"}}), HashLabels({{"ab", "c"}}));
  EXPECT_NE(HashLabels({{"a", ""}, {"b", "c"}}), HashLabels({{"a", "b"}}));
  EXPECT_EQ(HashLabels({{"x", "1"}, {"y", "2"}}),
            HashLabels({{"y", "2"}, {"x", "1"}}));
}

}  // namespace
}  // namespace sightline::metrics
