#include "alerts/notifier.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <random>

namespace sightline::alerts {

using Clock = std::chrono::steady_clock;

double BackoffDelay(const RetryPolicy& p, uint32_t attempt, std::optional<double> retry_after,
                    double unit_random) {
  if (retry_after) return std::clamp(*retry_after, 0.0, p.max_retry_after_seconds);
  const double exp = std::min(
      p.max_delay_seconds, p.base_delay_seconds * std::ldexp(1.0, int(std::max(1u, attempt)) - 1));
  const double factor = 1.0 + p.jitter * (2.0 * std::clamp(unit_random, 0.0, 1.0) - 1.0);
  return std::max(0.0, exp * factor);
}

std::optional<double> ParseRetryAfter(std::string_view value, int64_t now_unix) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\r')) {
    value.remove_suffix(1);
  }
  if (value.empty()) return std::nullopt;
  if (value.front() >= '0' && value.front() <= '9') {
    uint64_t s = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
    if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
    return static_cast<double>(s);
  }
  // IMF-fixdate, the form RFC 9110 requires senders to use.
  std::tm tm{};
  const std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  const int64_t at = static_cast<int64_t>(timegm(&tm));
  return static_cast<double>(std::max<int64_t>(0, at - now_unix));
}

DeliveryOutcome Deliver(Channel& channel, const Alert& alert, const RetryPolicy& policy,
                        const Sleeper& sleep, const std::function<double()>& unit_random) {
  DeliveryOutcome out;
  const uint32_t max_attempts = std::max(1u, policy.max_attempts);
  while (true) {
    out.last = channel.Send(alert);
    ++out.attempts;
    if (out.last.ok) {
      out.ok = true;
      return out;
    }
    if (!out.last.retryable || out.attempts >= max_attempts) return out;
    const double delay =
        BackoffDelay(policy, out.attempts, out.last.retry_after_seconds, unit_random());
    out.delays.push_back(delay);
    if (!sleep(delay)) {
      out.abandoned = true;
      return out;
    }
  }
}

struct Notifier::Worker {
  std::unique_ptr<Channel> channel;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Alert> queue;
  bool stopping = false;
  Clock::time_point deadline;
  std::thread thread;
  prometheus::Counter* sent = nullptr;
  prometheus::Counter* failed = nullptr;
  prometheus::Counter* dropped = nullptr;
  prometheus::Counter* retries = nullptr;
  prometheus::Gauge* depth = nullptr;

  // Waits, but no later than the drain deadline once stopping.
  bool Sleep(double seconds) {
    const auto target = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(seconds));
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      const auto now = Clock::now();
      if (now >= target) return true;
      if (stopping && now >= deadline) return false;
      cv.wait_until(lock, stopping ? std::min(target, deadline) : target);
    }
  }
};

Notifier::Notifier(prometheus::Registry& registry, std::vector<std::unique_ptr<Channel>> channels,
                   NotifierOptions options)
    : options_(options),
      notifications_(prometheus::BuildCounter()
                         .Name("sightline_alert_notifications_total")
                         .Help("Alert notifications by channel and result: sent, failed (gave "
                               "up after retries or refused), dropped (queue full or shutdown)")
                         .Register(registry)),
      retries_(prometheus::BuildCounter()
                   .Name("sightline_alert_notification_retries_total")
                   .Help("Delivery attempts repeated after a 429, 5xx or network error")
                   .Register(registry)),
      depth_(prometheus::BuildGauge()
                 .Name("sightline_alert_queue_depth")
                 .Help("Alert notifications waiting for delivery, by channel")
                 .Register(registry)) {
  for (auto& c : channels) {
    auto w = std::make_unique<Worker>();
    const std::string name(c->name());
    w->channel = std::move(c);
    w->sent = &notifications_.Add({{"channel", name}, {"result", "sent"}});
    w->failed = &notifications_.Add({{"channel", name}, {"result", "failed"}});
    w->dropped = &notifications_.Add({{"channel", name}, {"result", "dropped"}});
    w->retries = &retries_.Add({{"channel", name}});
    w->depth = &depth_.Add({{"channel", name}});
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    Worker* raw = w.get();
    raw->thread = std::thread([this, raw] { Run(*raw); });
  }
}

Notifier::~Notifier() { Stop(0); }

void Notifier::Enqueue(const Alert& alert) {
  for (auto& w : workers_) {
    std::lock_guard<std::mutex> lock(w->mu);
    if (w->stopping || w->queue.size() >= options_.queue_size) {
      w->dropped->Increment();
      continue;
    }
    w->queue.push_back(alert);
    w->depth->Set(static_cast<double>(w->queue.size()));
    w->cv.notify_all();
  }
}

void Notifier::Stop(double drain_seconds) {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(drain_seconds));
  for (auto& w : workers_) {
    std::lock_guard<std::mutex> lock(w->mu);
    if (w->stopping) continue;
    w->stopping = true;
    w->deadline = deadline;
    w->cv.notify_all();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

void Notifier::Run(Worker& w) {
  std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const std::string name(w.channel->name());
  while (true) {
    Alert alert;
    {
      std::unique_lock<std::mutex> lock(w.mu);
      w.cv.wait(lock, [&] { return !w.queue.empty() || w.stopping; });
      if (w.queue.empty() || (w.stopping && Clock::now() >= w.deadline)) break;
      alert = std::move(w.queue.front());
      w.queue.pop_front();
      w.depth->Set(static_cast<double>(w.queue.size()));
    }
    const DeliveryOutcome out = Deliver(
        *w.channel, alert, options_.retry, [&w](double s) { return w.Sleep(s); },
        [&] { return unit(rng); });
    w.retries->Increment(static_cast<double>(out.delays.size()));
    if (out.ok) {
      w.sent->Increment();
      spdlog::info("alert {} {} sent to {}", alert.alertname, AlertKindName(alert.kind), name);
    } else if (out.abandoned) {
      w.dropped->Increment();
      spdlog::warn("alert {} {} to {} dropped at shutdown after {} attempts: {}", alert.alertname,
                   AlertKindName(alert.kind), name, out.attempts, out.last.error);
    } else {
      w.failed->Increment();
      spdlog::error("alert {} {} to {} failed after {} attempts: {}", alert.alertname,
                    AlertKindName(alert.kind), name, out.attempts, out.last.error);
    }
  }
  std::lock_guard<std::mutex> lock(w.mu);
  w.dropped->Increment(static_cast<double>(w.queue.size()));
  w.queue.clear();
  w.depth->Set(0);
}

}  // namespace sightline::alerts
