// Alert rules: the built-in set, files laid over it, and every mistake
// refused with its line.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include "alerts/rules.h"

namespace sightline::alerts {
namespace {

std::string Error(const std::string& yaml) {
  std::string error;
  EXPECT_FALSE(ParseRules(yaml, DefaultRules(), &error)) << yaml;
  return error;
}

TEST(AlertsRules, DefaultsCoverEverySignal) {
  const RuleSet d = DefaultRules();
  ASSERT_EQ(d.rules.size(), 10u);
  std::set<Signal> seen;
  for (const auto& r : d.rules) seen.insert(r.signal);
  EXPECT_EQ(seen.size(), 10u);  // all but http_request_rate, which has no sensible default
  EXPECT_FALSE(seen.count(Signal::kHttpRequestRate));
  const Rule& p95 = d.rules[1];
  EXPECT_EQ(p95.name, "HighHttpP95Latency");
  EXPECT_EQ(p95.signal, Signal::kHttpP95Latency);
  EXPECT_EQ(p95.levels[0], 1.0);  // the brief's example thresholds
  EXPECT_EQ(p95.levels[1], 3.0);
  EXPECT_EQ(p95.levels[2], 5.0);
  EXPECT_EQ(p95.duration_seconds, 60u);
  EXPECT_EQ(p95.cooldown_seconds, 300u);
}

TEST(AlertsRules, FileExtendsAndReplacesDefaultsByName) {
  std::string error;
  auto set = ParseRules(R"(rules:
  - name: HighHttpP95Latency
    metric_name: http_p95_latency_seconds
    warning_value: 0.5
  - name: CheckoutErrors
    metric_name: http_error_rate
    critical_value: 0.01
    comparison: gte
    service: checkout
    window_seconds: 120
    min_requests: 50
    recovery_value: 0.005
)",
                        DefaultRules(), &error);
  ASSERT_TRUE(set) << error;
  ASSERT_EQ(set->rules.size(), 11u);
  EXPECT_EQ(set->rules[1].levels[0], 0.5);
  EXPECT_FALSE(set->rules[1].levels[2]);
  const Rule& c = set->rules.back();
  EXPECT_EQ(c.name, "CheckoutErrors");
  EXPECT_EQ(c.comparison, Comparison::kGte);
  EXPECT_EQ(c.Level(0.01), Severity::kCritical);
  EXPECT_EQ(c.Level(0.0099), Severity::kNone);
  EXPECT_TRUE(c.Applies("checkout"));
  EXPECT_FALSE(c.Applies("checkout-v2"));
  EXPECT_FALSE(c.Recovered(0.005));
  EXPECT_TRUE(c.Recovered(0.0049));
  EXPECT_EQ(c.window_seconds, 120u);
  EXPECT_EQ(c.min_requests, 50u);
  EXPECT_EQ(c.line, 5);
}

TEST(AlertsRules, DefaultsFalseDropsThem) {
  std::string error;
  auto set = ParseRules(
      "defaults: false\nrules:\n  - metric_name: http_request_rate\n"
      "    warning_value: 1\n    comparison: lt\n",
      DefaultRules(), &error);
  ASSERT_TRUE(set) << error;
  ASSERT_EQ(set->rules.size(), 1u);
  EXPECT_EQ(set->rules[0].name, "http_request_rate");
  EXPECT_EQ(set->rules[0].Level(0.5), Severity::kWarning);
  auto none = ParseRules("defaults: false\n", DefaultRules(), &error);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->rules.empty());
}

TEST(AlertsRules, MistakesNameTheLine) {
  EXPECT_EQ(Error("rules:\n  - metric_name: http_error_rat\n    warning_value: 1\n"),
            "line 2: rules[0]: unknown metric_name 'http_error_rat' (expected http_error_rate, "
            "http_p95_latency_seconds, http_p99_latency_seconds, http_request_rate, "
            "gen_ai_cost_usd_per_hour, gen_ai_error_rate, gen_ai_rate_limited_ratio, "
            "system_cpu_utilization, system_memory_utilization, system_disk_utilization, "
            "sightline_events_lost_rate)");
  EXPECT_EQ(Error("rules:\n  - metric_name: http_error_rate\n"),
            "line 2: rules[0]: at least one of warning_value, error_value, critical_value is "
            "needed");
  EXPECT_EQ(Error("rules:\n  - metric_name: http_error_rate\n    warning_value: lots\n"),
            "line 3: rules[0].warning_value: must be a number, got 'lots'");
  EXPECT_EQ(Error("rules:\n  - metric_name: http_error_rate\n    warning_value: 1\n"
                  "    comparison: above\n"),
            "line 4: rules[0]: comparison must be gt, gte, lt or lte, got 'above'");
  EXPECT_EQ(Error("rules:\n  - metric_name: http_error_rate\n    warning_value: 0.5\n"
                  "    critical_value: 0.1\n"),
            "line 4: rules[0]: critical_value must be on the gt side of the lower levels");
  EXPECT_EQ(Error("rules:\n  - metric_name: http_error_rate\n    warning_value: 0.5\n"
                  "    recovery_value: 0.6\n"),
            "line 4: rules[0]: recovery_value must not breach the lowest level (0.500000)");
  EXPECT_EQ(Error("rules:\n  - metric_name: http_error_rate\n    warning_value: 0.5\n"
                  "    window_seconds: 0\n"),
            "line 4: rules[0].window_seconds: must be a whole number between 1 and 3600, got '0'");
  EXPECT_EQ(Error("rules:\n  - metric_name: http_error_rate\n    warning_value: 0.5\n"
                  "    severity: high\n"),
            "line 4: rules[0]: unknown key 'severity' (expected name, metric_name, "
            "warning_value, error_value, critical_value, comparison, duration_seconds, "
            "cooldown_seconds, window_seconds, min_requests, recovery_value, service, "
            "service_regex)");
  EXPECT_EQ(Error("rules:\n  - metric_name: system_cpu_utilization\n    warning_value: 0.5\n"
                  "    service: api\n"),
            "line 2: rules[0]: system_cpu_utilization is a node-level signal and has no "
            "service scope");
  EXPECT_EQ(Error("rules:\n  - metric_name: http_error_rate\n    warning_value: 0.5\n"
                  "    service_regex: '('\n"),
            Error("rules:\n  - metric_name: http_error_rate\n    warning_value: 0.5\n"
                  "    service_regex: '('\n"));
  EXPECT_EQ(Error("rules:\n  - {name: A, metric_name: http_error_rate, warning_value: 1}\n"
                  "  - {name: A, metric_name: http_error_rate, warning_value: 2}\n"),
            "line 3: rules[1]: a second rule named 'A'");
  EXPECT_EQ(Error("rules: [\n"), Error("rules: [\n"));
  EXPECT_NE(Error("rules: [\n").find("line"), std::string::npos);
  EXPECT_EQ(Error("- metric_name: http_error_rate\n"),
            "line 1: the file must be a map with a 'rules' list");
}

TEST(AlertsRules, LoadNamesTheFile) {
  const std::string path = ::testing::TempDir() + "alerts_rules_test.yaml";
  {
    std::ofstream f(path);
    f << "rules:\n  - metric_name: nope\n    warning_value: 1\n";
  }
  std::string error;
  EXPECT_FALSE(LoadRules(path, &error));
  EXPECT_EQ(error.rfind(path + ":2: rules[0]: unknown metric_name 'nope'", 0), 0u) << error;
  EXPECT_FALSE(LoadRules(path + ".missing", &error));
  EXPECT_EQ(error, path + ".missing: cannot be read");
  std::remove(path.c_str());
  auto defaults = LoadRules("", &error);
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->rules.size(), 10u);
}

}  // namespace
}  // namespace sightline::alerts
