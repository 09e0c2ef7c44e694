// Delivery: the retry and backoff schedule (with Retry-After, injected
// sleeper and jitter), give-up, and the queue's counted drops.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "alerts/notifier.h"

namespace sightline::alerts {
namespace {

DeliveryResult Ok() {
  DeliveryResult r;
  r.ok = true;
  r.status = 200;
  return r;
}

// Answers from a script, then successes.
class ScriptedChannel : public Channel {
 public:
  explicit ScriptedChannel(std::deque<DeliveryResult> script) : script_(std::move(script)) {}
  std::string_view name() const override { return "scripted"; }
  DeliveryResult Send(const Alert&) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (script_.empty()) return Ok();
    DeliveryResult r = script_.front();
    script_.pop_front();
    return r;
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::deque<DeliveryResult> script_;
  int calls_ = 0;
};

DeliveryResult Http(int status, std::optional<double> retry_after = std::nullopt) {
  DeliveryResult r;
  r.status = status;
  r.retryable = status == 429 || status >= 500;
  r.retry_after_seconds = retry_after;
  r.error = "HTTP " + std::to_string(status);
  return r;
}

DeliveryResult Network() {
  DeliveryResult r;
  r.retryable = true;
  r.error = "Couldn't connect to server";
  return r;
}

struct Recorder {
  std::vector<double> waits;
  Sleeper sleeper() {
    return [this](double s) {
      waits.push_back(s);
      return true;
    };
  }
};

TEST(AlertsNotifier, BackoffDoublesUpToTheCapWithJitter) {
  RetryPolicy p;
  p.base_delay_seconds = 1;
  p.max_delay_seconds = 10;
  p.jitter = 0.2;
  EXPECT_DOUBLE_EQ(BackoffDelay(p, 1, std::nullopt, 0.5), 1);
  EXPECT_DOUBLE_EQ(BackoffDelay(p, 2, std::nullopt, 0.5), 2);
  EXPECT_DOUBLE_EQ(BackoffDelay(p, 3, std::nullopt, 0.5), 4);
  EXPECT_DOUBLE_EQ(BackoffDelay(p, 4, std::nullopt, 0.5), 8);
  EXPECT_DOUBLE_EQ(BackoffDelay(p, 5, std::nullopt, 0.5), 10);
  EXPECT_DOUBLE_EQ(BackoffDelay(p, 3, std::nullopt, 0.0), 3.2);  // 4 x 0.8
  EXPECT_DOUBLE_EQ(BackoffDelay(p, 3, std::nullopt, 1.0), 4.8);  // 4 x 1.2
  // Retry-After wins over the backoff, without jitter, capped.
  EXPECT_DOUBLE_EQ(BackoffDelay(p, 3, 1.0, 0.9), 1.0);
  EXPECT_DOUBLE_EQ(BackoffDelay(p, 1, 7.0, 0.1), 7.0);
  p.max_retry_after_seconds = 30;
  EXPECT_DOUBLE_EQ(BackoffDelay(p, 1, 3600.0, 0.1), 30.0);
}

TEST(AlertsNotifier, RetryAfterSecondsAndHttpDate) {
  EXPECT_EQ(ParseRetryAfter("1", 0), 1.0);
  EXPECT_EQ(ParseRetryAfter(" 120 ", 0), 120.0);
  // 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT.
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 30), 30.0);
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 + 30), 0.0);
  EXPECT_FALSE(ParseRetryAfter("", 0));
  EXPECT_FALSE(ParseRetryAfter("soon", 0));
  EXPECT_FALSE(ParseRetryAfter("1.5", 0));
  EXPECT_FALSE(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00", 0));
}

TEST(AlertsNotifier, TooManyRequestsWithRetryAfterThenSuccess) {
  ScriptedChannel c({Http(429, 1.0)});
  Recorder rec;
  const auto out = Deliver(c, Alert{}, RetryPolicy{}, rec.sleeper(), [] { return 0.5; });
  EXPECT_TRUE(out.ok);
  EXPECT_EQ(out.attempts, 2u);
  EXPECT_EQ(rec.waits, std::vector<double>({1.0}));
  EXPECT_EQ(c.calls(), 2);
}

TEST(AlertsNotifier, FiveHundredsAndNetworkErrorsBackOffThenGiveUp) {
  ScriptedChannel c({Http(503), Network(), Http(500), Http(502), Http(500), Http(500)});
  RetryPolicy p;
  p.max_attempts = 5;
  p.base_delay_seconds = 0.5;
  p.max_delay_seconds = 3;
  Recorder rec;
  const auto out = Deliver(c, Alert{}, p, rec.sleeper(), [] { return 0.5; });
  EXPECT_FALSE(out.ok);
  EXPECT_FALSE(out.abandoned);
  EXPECT_EQ(out.attempts, 5u);
  EXPECT_EQ(rec.waits, std::vector<double>({0.5, 1.0, 2.0, 3.0}));
  EXPECT_EQ(out.last.status, 500);
}

TEST(AlertsNotifier, ClientErrorsAreNotRetried) {
  ScriptedChannel c({Http(400)});
  Recorder rec;
  const auto out = Deliver(c, Alert{}, RetryPolicy{}, rec.sleeper(), [] { return 0.5; });
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.attempts, 1u);
  EXPECT_TRUE(rec.waits.empty());
}

TEST(AlertsNotifier, StopDuringABackoffAbandons) {
  ScriptedChannel c({Http(503), Http(503)});
  const auto out = Deliver(
      c, Alert{}, RetryPolicy{}, [](double) { return false; }, [] { return 0.5; });
  EXPECT_FALSE(out.ok);
  EXPECT_TRUE(out.abandoned);
  EXPECT_EQ(out.attempts, 1u);
}

double Value(prometheus::Registry& r, const std::string& name,
             const std::map<std::string, std::string>& want) {
  for (const auto& f : r.Collect()) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      std::map<std::string, std::string> l;
      for (const auto& p : m.label) l[p.name] = p.value;
      bool match = true;
      for (const auto& [k, v] : want) match = match && l[k] == v;
      if (match) return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return -1;
}

// A channel that blocks until released, to fill the queue behind it.
class GateChannel : public Channel {
 public:
  std::string_view name() const override { return "gate"; }
  DeliveryResult Send(const Alert&) override {
    ++started;
    while (!open.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ++sent;
    return Ok();
  }
  std::atomic<bool> open{false};
  std::atomic<int> started{0}, sent{0};
};

TEST(AlertsNotifier, FullQueueDropsAndCountsWithoutBlocking) {
  prometheus::Registry registry;
  auto gate = std::make_unique<GateChannel>();
  GateChannel* g = gate.get();
  std::vector<std::unique_ptr<Channel>> channels;
  channels.push_back(std::move(gate));
  NotifierOptions o;
  o.queue_size = 2;
  Notifier n(registry, std::move(channels), o);
  n.Enqueue(Alert{});
  while (g->started.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // One in flight; two fit in the queue; the next two are dropped at once.
  for (int i = 0; i < 4; ++i) n.Enqueue(Alert{});
  EXPECT_EQ(Value(registry, "sightline_alert_notifications_total",
                  {{"channel", "gate"}, {"result", "dropped"}}),
            2);
  EXPECT_EQ(Value(registry, "sightline_alert_queue_depth", {{"channel", "gate"}}), 2);
  g->open = true;
  n.Stop(5);
  EXPECT_EQ(g->sent.load(), 3);
  EXPECT_EQ(Value(registry, "sightline_alert_notifications_total",
                  {{"channel", "gate"}, {"result", "sent"}}),
            3);
  EXPECT_EQ(Value(registry, "sightline_alert_queue_depth", {{"channel", "gate"}}), 0);
}

TEST(AlertsNotifier, WorkerCountsRetriesAndFailures) {
  prometheus::Registry registry;
  std::vector<std::unique_ptr<Channel>> channels;
  channels.push_back(
      std::make_unique<ScriptedChannel>(std::deque<DeliveryResult>{Http(429, 0.0), Http(400)}));
  NotifierOptions o;
  Notifier n(registry, std::move(channels), o);
  n.Enqueue(Alert{});  // 429, then 400: failed after one retry
  n.Enqueue(Alert{});  // sent
  n.Stop(5);
  EXPECT_EQ(Value(registry, "sightline_alert_notifications_total",
                  {{"channel", "scripted"}, {"result", "failed"}}),
            1);
  EXPECT_EQ(Value(registry, "sightline_alert_notifications_total",
                  {{"channel", "scripted"}, {"result", "sent"}}),
            1);
  EXPECT_EQ(
      Value(registry, "sightline_alert_notification_retries_total", {{"channel", "scripted"}}), 1);
}

}  // namespace
}  // namespace sightline::alerts
