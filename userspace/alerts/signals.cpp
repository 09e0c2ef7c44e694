#include "alerts/signals.h"

#include <algorithm>
#include <cmath>

namespace sightline::alerts {
namespace {

int64_t Second(uint64_t now_ns) { return static_cast<int64_t>(now_ns / 1'000'000'000ull); }

uint16_t IndexOf(double seconds) {
  const double x = std::clamp(seconds, LatencySketch::kMin, LatencySketch::kMax);
  const double i = std::ceil(std::log(x / LatencySketch::kMin) / std::log(LatencySketch::kGamma));
  return static_cast<uint16_t>(std::max(0.0, i));
}

double ValueOf(uint16_t index) {
  return 2 * LatencySketch::kMin * std::pow(LatencySketch::kGamma, index) /
         (LatencySketch::kGamma + 1);
}

// Trims buckets that fell out of the longest window.
template <typename Deque>
void Trim(Deque& d, int64_t now_s, uint32_t max_window) {
  while (!d.empty() && d.front().second <= now_s - static_cast<int64_t>(max_window)) d.pop_front();
}

}  // namespace

void LatencySketch::Add(double seconds, uint32_t n) {
  if (!(seconds >= 0)) seconds = 0;  // NaN or negative: the fastest bucket
  counts_[IndexOf(seconds)] += n;
  count_ += n;
}

void LatencySketch::Merge(const LatencySketch& other) {
  for (const auto& [i, n] : other.counts_) counts_[i] += n;
  count_ += other.count_;
}

std::optional<double> LatencySketch::Quantile(double q) const {
  if (count_ == 0) return std::nullopt;
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (const auto& [i, n] : counts_) {
    seen += n;
    if (seen >= rank) return ValueOf(i);
  }
  return ValueOf(counts_.rbegin()->first);
}

Signals::Signals(SignalsOptions options) : options_(options) {}

ServiceBucket* Signals::Bucket(const std::string& service, const ServiceLabels& labels,
                              uint64_t now_ns) {
  auto it = services_.find(service);
  if (it == services_.end()) {
    if (services_.size() >= options_.max_services) {
      ++services_dropped_;
      return nullptr;
    }
    it = services_.emplace(service, Service{}).first;
    it->second.labels = labels;
  }
  auto& d = it->second.buckets;
  const int64_t s = Second(now_ns);
  // Observations arrive in clock order; one from an earlier second (the
  // clock is per call, so this only happens across a bucket edge) joins the
  // newest bucket rather than reordering the window.
  if (d.empty() || d.back().second < s) {
    d.push_back(ServiceBucket{});
    d.back().second = s;
  }
  return &d.back();
}

void Signals::ObserveHttp(const std::string& service, int status, double seconds, uint64_t now_ns) {
  ObserveHttp(service, {{"service_name", service}}, status, seconds, now_ns);
}

void Signals::ObserveHttp(const std::string& service, const ServiceLabels& labels, int status,
                          double seconds, uint64_t now_ns) {
  ServiceBucket* b = Bucket(service, labels, now_ns);
  if (!b) return;
  ++b->http_requests;
  if (status >= 500 && status <= 599) ++b->http_5xx;
  b->latency.Add(seconds);
}

void Signals::ObserveAiCall(const std::string& service, int status, bool error, double cost_usd,
                            uint64_t now_ns) {
  ObserveAiCall(service, {{"service_name", service}}, status, error, cost_usd, now_ns);
}

void Signals::ObserveAiCall(const std::string& service, const ServiceLabels& labels, int status,
                            bool error, double cost_usd, uint64_t now_ns) {
  ServiceBucket* b = Bucket(service, labels, now_ns);
  if (!b) return;
  ++b->ai_calls;
  if (error || status >= 400) ++b->ai_errors;
  if (status == 429) ++b->ai_rate_limited;
  if (cost_usd > 0 && std::isfinite(cost_usd)) b->ai_cost_usd += cost_usd;
}

void Signals::ObserveNode(const NodeSample& sample, uint64_t now_ns) {
  NodeBucket b;
  b.second = Second(now_ns);
  if (previous_node_ && sample.cpu_total_ticks && previous_node_->cpu_total_ticks &&
      sample.cpu_busy_ticks && previous_node_->cpu_busy_ticks &&
      *sample.cpu_total_ticks >= *previous_node_->cpu_total_ticks &&
      *sample.cpu_busy_ticks >= *previous_node_->cpu_busy_ticks) {
    b.cpu_total = *sample.cpu_total_ticks - *previous_node_->cpu_total_ticks;
    b.cpu_busy = std::min(b.cpu_total, *sample.cpu_busy_ticks - *previous_node_->cpu_busy_ticks);
  }
  if (sample.memory_utilization) {
    b.memory = *sample.memory_utilization;
    b.has_memory = true;
  }
  if (sample.disk_utilization) {
    b.disk = *sample.disk_utilization;
    b.has_disk = true;
  }
  if (previous_node_ && sample.events_lost >= previous_node_->events_lost) {
    b.events_lost = sample.events_lost - previous_node_->events_lost;
  }
  previous_node_ = sample;
  if (!node_.empty() && node_.back().second == b.second) {
    // Two samples in one second: keep the sum of deltas and the newest gauges.
    NodeBucket& last = node_.back();
    last.cpu_busy += b.cpu_busy;
    last.cpu_total += b.cpu_total;
    last.events_lost += b.events_lost;
    if (b.has_memory) last.memory = b.memory, last.has_memory = true;
    if (b.has_disk) last.disk = b.disk, last.has_disk = true;
  } else {
    node_.push_back(b);
  }
}

std::optional<double> Signals::Value(const Rule& rule, const std::string& service,
                                     uint64_t now_ns) const {
  const int64_t now_s = Second(now_ns);
  const int64_t from = now_s - static_cast<int64_t>(rule.window_seconds);  // exclusive
  const double window = static_cast<double>(rule.window_seconds);
  if (IsNodeSignal(rule.signal)) {
    uint64_t busy = 0, total = 0, lost = 0, samples = 0, mem_n = 0, disk_n = 0;
    double mem = 0, disk = 0;
    for (const auto& b : node_) {
      if (b.second <= from || b.second > now_s) continue;
      ++samples;
      busy += b.cpu_busy;
      total += b.cpu_total;
      lost += b.events_lost;
      if (b.has_memory) mem += b.memory, ++mem_n;
      if (b.has_disk) disk += b.disk, ++disk_n;
    }
    switch (rule.signal) {
      case Signal::kSystemCpu:
        if (total == 0) return std::nullopt;
        return static_cast<double>(busy) / static_cast<double>(total);
      case Signal::kSystemMemory:
        if (mem_n == 0) return std::nullopt;
        return mem / static_cast<double>(mem_n);
      case Signal::kSystemDisk:
        if (disk_n == 0) return std::nullopt;
        return disk / static_cast<double>(disk_n);
      case Signal::kEventsLostRate:
        if (samples == 0) return std::nullopt;
        return static_cast<double>(lost) / window;
      default:
        return std::nullopt;
    }
  }
  const auto it = services_.find(service);
  if (it == services_.end()) return std::nullopt;
  uint64_t requests = 0, errors = 0, calls = 0, ai_errors = 0, limited = 0;
  double cost = 0;
  const bool percentile =
      rule.signal == Signal::kHttpP95Latency || rule.signal == Signal::kHttpP99Latency;
  LatencySketch latency;
  for (const auto& b : it->second.buckets) {
    if (b.second <= from || b.second > now_s) continue;
    requests += b.http_requests;
    errors += b.http_5xx;
    calls += b.ai_calls;
    ai_errors += b.ai_errors;
    limited += b.ai_rate_limited;
    cost += b.ai_cost_usd;
    if (percentile) latency.Merge(b.latency);
  }
  const auto ratio = [&](uint64_t part, uint64_t all) -> std::optional<double> {
    if (all == 0 || all < rule.min_requests) return std::nullopt;
    return static_cast<double>(part) / static_cast<double>(all);
  };
  switch (rule.signal) {
    case Signal::kHttpErrorRate:
      return ratio(errors, requests);
    case Signal::kHttpP95Latency:
    case Signal::kHttpP99Latency:
      if (requests == 0 || requests < rule.min_requests) return std::nullopt;
      return latency.Quantile(rule.signal == Signal::kHttpP95Latency ? 0.95 : 0.99);
    case Signal::kHttpRequestRate:
      return static_cast<double>(requests) / window;
    case Signal::kGenAiCostPerHour:
      return cost * 3600.0 / window;
    case Signal::kGenAiErrorRate:
      return ratio(ai_errors, calls);
    case Signal::kGenAiRateLimitedRatio:
      return ratio(limited, calls);
    default:
      return std::nullopt;
  }
}

std::vector<std::string> Signals::Services() const {
  std::vector<std::string> out;
  out.reserve(services_.size());
  for (const auto& [name, service] : services_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

const Signals::ServiceLabels* Signals::LabelsOf(const std::string& service) const {
  const auto it = services_.find(service);
  return it == services_.end() ? nullptr : &it->second.labels;
}

void Signals::Expire(uint64_t now_ns) {
  const int64_t now_s = Second(now_ns);
  for (auto it = services_.begin(); it != services_.end();) {
    Trim(it->second.buckets, now_s, options_.max_window_seconds);
    it = it->second.buckets.empty() ? services_.erase(it) : std::next(it);
  }
  Trim(node_, now_s, options_.max_window_seconds);
}

}  // namespace sightline::alerts
