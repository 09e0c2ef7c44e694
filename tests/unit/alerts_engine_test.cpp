// The alert engine driven second by second with a fake clock: pending,
// firing, escalation, cooldown repeats, one resolve, flapping damped.
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "alerts/alertmanager.h"
#include "alerts/engine.h"
#include "alerts/rules.h"
#include "alerts/signals.h"
#include "alerts/slack.h"

namespace sightline::alerts {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

class EngineTest : public ::testing::Test {
 protected:
  // One rule over http_error_rate, a 1 s window and min_requests 1, so each
  // second's traffic alone decides the value.
  void Use(const std::string& yaml) {
    std::string error;
    auto rules = ParseRules(yaml, RuleSet{}, &error);
    ASSERT_TRUE(rules) << error;
    engine_ = std::make_unique<Engine>(
        registry_, std::move(*rules), [this](const Alert& a) { sent_.push_back(a); }, "node1");
  }

  // Second `t`: `requests` requests of which `errors` answered 5xx, then one evaluation.
  void At(uint64_t t, int requests, int errors, const std::string& service = "api") {
    const uint64_t now = (1000 + t) * kSec;
    for (int i = 0; i < requests; ++i) {
      signals_.ObserveHttp(service, i < errors ? 500 : 200, 0.01, now);
    }
    engine_->Evaluate(signals_, now + kSec / 2, int64_t(1'700'000'000'000) + int64_t(t) * 1000);
  }

  std::string Kinds() const {
    std::string s;
    for (const auto& a : sent_) {
      s += (s.empty() ? "" : " ") + std::string(AlertKindName(a.kind)) + ":" +
           std::string(SeverityName(a.severity));
    }
    return s;
  }

  double Firing(const std::string& severity, const std::string& service = "api") {
    for (const auto& f : registry_.Collect()) {
      if (f.name != "sightline_alerts_firing") continue;
      for (const auto& m : f.metric) {
        std::map<std::string, std::string> l;
        for (const auto& p : m.label) l[p.name] = p.value;
        if (l["severity"] == severity && l["service_name"] == service) return m.gauge.value;
      }
    }
    return -1;  // no such series
  }

  prometheus::Registry registry_;
  Signals signals_;
  std::unique_ptr<Engine> engine_;
  std::vector<Alert> sent_;
};

constexpr const char* kRule = R"(defaults: false
rules:
  - name: Errors
    metric_name: http_error_rate
    warning_value: 0.2
    error_value: 0.4
    critical_value: 0.6
    comparison: gt
    duration_seconds: 3
    cooldown_seconds: 10
    window_seconds: 1
    min_requests: 1
)";

TEST_F(EngineTest, PendingThenFiringAfterTheDuration) {
  Use(kRule);
  At(0, 10, 3);  // 0.3 > 0.2: pending since t=0
  At(1, 10, 3);
  At(2, 10, 3);
  EXPECT_EQ(Kinds(), "");
  EXPECT_EQ(Firing("warning"), -1);
  At(3, 10, 3);  // held for 3 s
  EXPECT_EQ(Kinds(), "firing:warning");
  EXPECT_EQ(Firing("warning"), 1);
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].alertname, "Errors");
  EXPECT_EQ(sent_[0].service, "api");
  EXPECT_DOUBLE_EQ(sent_[0].value, 0.3);
  EXPECT_DOUBLE_EQ(sent_[0].threshold, 0.2);
  EXPECT_EQ(sent_[0].starts_at_ms, 1'700'000'003'000);
  EXPECT_EQ(sent_[0].DedupKey(), "sightline/node1/Errors/api");
  EXPECT_EQ(sent_[0].Summary(), "Errors warning: http_error_rate 0.3 > 0.2 over 1s (service api)");
}

TEST_F(EngineTest, NotFiringWhenItDropsBeforeTheDuration) {
  Use(kRule);
  At(0, 10, 3);
  At(1, 10, 3);
  At(2, 10, 3);
  At(3, 10, 1);  // 0.1: pending cleared one second short
  At(4, 10, 3);  // pending again from t=4
  At(5, 10, 3);
  At(6, 10, 3);
  EXPECT_EQ(Kinds(), "");
  At(7, 10, 3);
  EXPECT_EQ(Kinds(), "firing:warning");
}

TEST_F(EngineTest, EscalationNotifiesAtOnceAfterItsOwnDuration) {
  Use(kRule);
  for (int t = 0; t <= 3; ++t) At(t, 10, 3);
  EXPECT_EQ(Kinds(), "firing:warning");
  At(4, 10, 7);  // critical pending from t=4
  At(5, 10, 7);
  At(6, 10, 7);
  EXPECT_EQ(Kinds(), "firing:warning");
  At(7, 10, 7);  // well inside the 10 s cooldown, yet notified
  EXPECT_EQ(Kinds(), "firing:warning firing:critical");
  EXPECT_EQ(sent_.back().previous, Severity::kWarning);
  EXPECT_EQ(sent_.back().starts_at_ms, 1'700'000'003'000);  // the same alert
  EXPECT_EQ(Firing("critical"), 1);
  EXPECT_EQ(Firing("warning"), -1);
}

TEST_F(EngineTest, HighestBreachedLevelWins) {
  Use(kRule);
  for (int t = 0; t <= 3; ++t) At(t, 10, 9);  // 0.9 breaches all three
  EXPECT_EQ(Kinds(), "firing:critical");
}

TEST_F(EngineTest, UnchangedAlertRepeatsNoSoonerThanTheCooldown) {
  Use(kRule);
  for (int t = 0; t <= 12; ++t) At(t, 10, 3);
  EXPECT_EQ(Kinds(), "firing:warning");  // fired at 3; 3 + 10 = 13
  At(13, 10, 3);
  EXPECT_EQ(Kinds(), "firing:warning repeat:warning");
  for (int t = 14; t <= 22; ++t) At(t, 10, 3);
  EXPECT_EQ(sent_.size(), 2u);
  At(23, 10, 3);
  EXPECT_EQ(Kinds(), "firing:warning repeat:warning repeat:warning");
}

TEST_F(EngineTest, ADropToALowerLevelShowsInTheNextRepeat) {
  Use(kRule);
  for (int t = 0; t <= 3; ++t) At(t, 10, 7);  // critical
  EXPECT_EQ(Kinds(), "firing:critical");
  for (int t = 4; t <= 12; ++t) At(t, 10, 3);  // warning only: no page for the drop
  EXPECT_EQ(Kinds(), "firing:critical");
  EXPECT_EQ(Firing("critical"), 1);
  At(13, 10, 3);  // cooldown over
  EXPECT_EQ(Kinds(), "firing:critical repeat:warning");
  EXPECT_EQ(sent_.back().previous, Severity::kCritical);
  EXPECT_EQ(Firing("critical"), -1);
  EXPECT_EQ(Firing("warning"), 1);
}

TEST_F(EngineTest, RecoverySendsExactlyOneResolve) {
  Use(kRule);
  for (int t = 0; t <= 3; ++t) At(t, 10, 3);
  At(4, 10, 0);
  EXPECT_EQ(Kinds(), "firing:warning resolved:warning");
  EXPECT_DOUBLE_EQ(sent_.back().value, 0.0);
  EXPECT_EQ(sent_.back().starts_at_ms, 1'700'000'003'000);
  EXPECT_EQ(Firing("warning"), -1);
  for (int t = 5; t <= 40; ++t) At(t, 10, 0);
  EXPECT_EQ(sent_.size(), 2u);
  EXPECT_EQ(engine_->firing(), 0u);
}

TEST_F(EngineTest, NoTrafficResolvesToo) {
  Use(kRule);
  for (int t = 0; t <= 3; ++t) At(t, 10, 3);
  At(4, 0, 0);  // the window holds nothing to judge
  EXPECT_EQ(Kinds(), "firing:warning resolved:warning");
  EXPECT_TRUE(std::isnan(sent_.back().value));
}

TEST_F(EngineTest, FlappingAroundTheThresholdIsDampedByTheRecoveryValue) {
  Use(R"(defaults: false
rules:
  - name: Errors
    metric_name: http_error_rate
    warning_value: 0.2
    recovery_value: 0.1
    duration_seconds: 0
    cooldown_seconds: 100
    window_seconds: 1
    min_requests: 1
)");
  // 0.3, 0.15, 0.3, 0.15 ...: crosses 0.2 every second, never below 0.1.
  for (int t = 0; t < 20; ++t) At(t, 20, t % 2 == 0 ? 6 : 3);
  EXPECT_EQ(Kinds(), "firing:warning");
  At(20, 20, 1);  // 0.05 < 0.1
  EXPECT_EQ(Kinds(), "firing:warning resolved:warning");
}

TEST_F(EngineTest, WithoutRecoveryValueTheSameFlappingPages) {
  Use(R"(defaults: false
rules:
  - name: Errors
    metric_name: http_error_rate
    warning_value: 0.2
    duration_seconds: 0
    cooldown_seconds: 100
    window_seconds: 1
    min_requests: 1
)");
  for (int t = 0; t < 4; ++t) At(t, 20, t % 2 == 0 ? 6 : 3);
  EXPECT_EQ(Kinds(), "firing:warning resolved:warning firing:warning resolved:warning");
}

TEST_F(EngineTest, MinRequestsKeepsOneRequestFromPaging) {
  Use(R"(defaults: false
rules:
  - metric_name: http_error_rate
    warning_value: 0.2
    duration_seconds: 0
    window_seconds: 5
    min_requests: 5
)");
  At(0, 1, 1);  // 100% of one request
  At(1, 3, 3);  // 4 in the window
  EXPECT_EQ(Kinds(), "");
  At(2, 1, 0);  // 5 in the window, 4 errors
  EXPECT_EQ(Kinds(), "firing:warning");
  EXPECT_EQ(sent_[0].alertname, "http_error_rate");
  EXPECT_DOUBLE_EQ(sent_[0].value, 0.8);
}

TEST_F(EngineTest, ServicesAreJudgedApartAndScopedByRegex) {
  Use(R"(defaults: false
rules:
  - name: Errors
    metric_name: http_error_rate
    warning_value: 0.2
    duration_seconds: 0
    window_seconds: 1
    min_requests: 1
    service_regex: "shop-.*"
)");
  const uint64_t now = 1000 * kSec;
  for (const char* s : {"shop-cart", "shop-pay", "admin"}) {
    for (int i = 0; i < 10; ++i) signals_.ObserveHttp(s, i < 5 ? 503 : 200, 0.01, now);
  }
  signals_.ObserveHttp("shop-pay", 200, 0.01, now);
  engine_->Evaluate(signals_, now, 0);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[0].service, "shop-cart");
  EXPECT_EQ(sent_[1].service, "shop-pay");
  EXPECT_DOUBLE_EQ(sent_[1].value, 5.0 / 11.0);
  EXPECT_EQ(Firing("warning", "shop-cart"), 1);
  EXPECT_EQ(Firing("warning", "admin"), -1);
}

TEST_F(EngineTest, OneWorkloadNameInTwoNamespacesIsTwoAlerts) {
  Use(R"(defaults: false
rules:
  - name: Errors
    metric_name: http_error_rate
    warning_value: 0.2
    duration_seconds: 0
    window_seconds: 1
    min_requests: 1
    service: checkout
)");
  const uint64_t now = 1000 * kSec;
  const Signals::ServiceLabels shop = {
      {"service_name", "checkout"}, {"k8s_namespace_name", "shop"}, {"k8s_container_name", "app"}};
  const Signals::ServiceLabels staging = {{"service_name", "checkout"},
                                          {"k8s_namespace_name", "staging"},
                                          {"k8s_container_name", "app"}};
  for (int i = 0; i < 10; ++i) {
    signals_.ObserveHttp("checkout|shop", shop, i < 5 ? 503 : 200, 0.01, now);
    signals_.ObserveHttp("checkout|staging", staging, i < 3 ? 503 : 200, 0.01, now);
  }
  engine_->Evaluate(signals_, now, 1'700'000'000'000);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(sent_[0].service, "checkout");
  EXPECT_EQ(sent_[0].service_labels, shop);
  EXPECT_DOUBLE_EQ(sent_[0].value, 0.5);
  EXPECT_EQ(sent_[1].service_labels, staging);
  EXPECT_DOUBLE_EQ(sent_[1].value, 0.3);
  EXPECT_NE(sent_[0].DedupKey(), sent_[1].DedupKey());
  EXPECT_EQ(sent_[0].DedupKey(), "sightline/node1/Errors/checkout/app/shop");
  EXPECT_EQ(sent_[0].Summary(),
            "Errors warning: http_error_rate 0.5 > 0.2 over 1s (service checkout in shop)");
  // The firing series and the channels name the namespace and container.
  int shop_series = 0;
  for (const auto& f : registry_.Collect()) {
    if (f.name != "sightline_alerts_firing") continue;
    for (const auto& m : f.metric) {
      std::map<std::string, std::string> l;
      for (const auto& p : m.label) l[p.name] = p.value;
      if (l == std::map<std::string, std::string>{{"alertname", "Errors"},
                                                  {"severity", "warning"},
                                                  {"service_name", "checkout"},
                                                  {"k8s_namespace_name", "shop"},
                                                  {"k8s_container_name", "app"}}) {
        shop_series += m.gauge.value == 1;
      }
    }
  }
  EXPECT_EQ(shop_series, 1);
  const auto am = AlertmanagerPayload(sent_[1]);
  EXPECT_EQ(am[0]["labels"]["k8s_namespace_name"], "staging");
  EXPECT_EQ(am[0]["labels"]["k8s_container_name"], "app");
  EXPECT_EQ(am[0]["labels"]["service_name"], "checkout");
  const std::string slack = SlackPayload(sent_[0], "").dump();
  EXPECT_NE(slack.find(R"({"short":true,"title":"Namespace","value":"shop"})"), std::string::npos)
      << slack;
}

TEST_F(EngineTest, LowerIsWorseWithLt) {
  Use(R"(defaults: false
rules:
  - name: TrafficStopped
    metric_name: http_request_rate
    warning_value: 5
    critical_value: 1
    comparison: lt
    duration_seconds: 0
    window_seconds: 1
)");
  At(0, 10, 0);
  EXPECT_EQ(Kinds(), "");
  At(1, 3, 0);
  EXPECT_EQ(Kinds(), "firing:warning");
  At(2, 0, 0);  // no requests at all: the rate is 0, which is data
  EXPECT_EQ(Kinds(), "firing:warning firing:critical");
}

}  // namespace
}  // namespace sightline::alerts
