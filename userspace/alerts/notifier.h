// Delivers alert notifications to channels without ever blocking the caller:
// one worker thread and one bounded queue per channel (a full queue drops
// the notification, counted), retries with exponential backoff and jitter on
// 429, 5xx and network errors, honouring Retry-After, and a give-up after
// max_attempts (counted failed). Each channel has its own worker, so a slow
// or failing one never delays the others.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "alerts/engine.h"

namespace sightline::alerts {

// What one attempt at delivering came to.
struct DeliveryResult {
  bool ok = false;
  bool retryable = false;  // 429, 5xx, a network error
  int status = 0;          // HTTP status or SMTP reply code; 0 when none came
  std::optional<double> retry_after_seconds;
  std::string error;  // why it failed, for logs and `sightline alert test`
};

class Channel {
 public:
  virtual ~Channel() = default;
  // "email", "slack", "pagerduty", "alertmanager", "webhook".
  virtual std::string_view name() const = 0;
  // One attempt; runs on the channel's worker thread.
  virtual DeliveryResult Send(const Alert& alert) = 0;
};

struct RetryPolicy {
  uint32_t max_attempts = 5;
  double base_delay_seconds = 1.0;  // before the second attempt
  double max_delay_seconds = 60.0;
  double jitter = 0.2;  // each backoff delay is scaled by a factor in [1 - jitter, 1 + jitter]
  double max_retry_after_seconds = 300.0;  // a longer Retry-After is cut to this
};

// Seconds to wait after failed attempt number `attempt` (1-based): the
// Retry-After when the answer carried one (capped), else
// min(max, base * 2^(attempt-1)) scaled by the jitter; `unit_random` is in [0, 1).
double BackoffDelay(const RetryPolicy& p, uint32_t attempt, std::optional<double> retry_after,
                    double unit_random);

// Retry-After as delay-seconds ("120") or an HTTP date ("Wed, 21 Oct 2015
// 07:28:00 GMT", relative to `now_unix`, at least 0); nullopt when neither.
std::optional<double> ParseRetryAfter(std::string_view value, int64_t now_unix);

// Waits `seconds`; returns false when the wait was cut short to stop.
using Sleeper = std::function<bool(double seconds)>;

struct DeliveryOutcome {
  bool ok = false;
  bool abandoned = false;  // the sleeper said stop before the last attempt
  uint32_t attempts = 0;
  std::vector<double> delays;  // waited between attempts
  DeliveryResult last;
};

// Attempts until success, a non-retryable failure, or max_attempts.
DeliveryOutcome Deliver(Channel& channel, const Alert& alert, const RetryPolicy& policy,
                        const Sleeper& sleep, const std::function<double()>& unit_random);

struct NotifierOptions {
  size_t queue_size = 256;  // per channel
  RetryPolicy retry;
};

class Notifier {
 public:
  Notifier(prometheus::Registry& registry, std::vector<std::unique_ptr<Channel>> channels,
           NotifierOptions options);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Queues `alert` for every channel; never blocks on delivery.
  void Enqueue(const Alert& alert);

  // Lets the workers deliver what is queued for up to `drain_seconds`, then
  // stops them; what is left is counted dropped. Idempotent.
  void Stop(double drain_seconds);

  size_t channels() const { return workers_.size(); }

 private:
  struct Worker;
  void Run(Worker& w);

  NotifierOptions options_;
  prometheus::Family<prometheus::Counter>& notifications_;
  prometheus::Family<prometheus::Counter>& retries_;
  prometheus::Family<prometheus::Gauge>& depth_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace sightline::alerts
