// What alert rules are judged on: per-service HTTP and AI figures and
// node-level resources, kept in 1-second buckets over a sliding window so a
// rule reads any window up to kMaxWindowSeconds. Latency percentiles come
// from a bounded log-bucket sketch per second (relative error at most
// LatencySketch::kRelativeError), never from every sample.
//
// Fed from the data path (Observe*) and read by the engine on the same
// thread, once a second. Services past max_services are not followed and
// counted (services_dropped).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "alerts/rules.h"

namespace sightline::alerts {

// Counts of values in logarithmic buckets: bucket i holds (g^(i-1), g^i]
// with g = 1.02, from 1 microsecond to about 3 hours (values outside are
// clamped), and reports each bucket as the value with the least relative
// error to both its ends.
class LatencySketch {
 public:
  static constexpr double kGamma = 1.02;
  static constexpr double kRelativeError = (kGamma - 1) / (kGamma + 1);  // < 1%
  static constexpr double kMin = 1e-6;
  static constexpr double kMax = 1e4;

  void Add(double seconds, uint32_t n = 1);
  void Merge(const LatencySketch& other);
  // The nearest-rank quantile (q in (0, 1]): the smallest bucket below or at
  // which ceil(q * count) values lie. nullopt when empty.
  std::optional<double> Quantile(double q) const;
  uint64_t count() const { return count_; }
  size_t buckets() const { return counts_.size(); }

 private:
  std::map<uint16_t, uint32_t> counts_;  // sparse: only buckets that were hit
  uint64_t count_ = 0;
};

// One second of what a service did.
struct ServiceBucket {
  int64_t second = 0;
  uint64_t http_requests = 0;  // answered, server side
  uint64_t http_5xx = 0;
  LatencySketch latency;
  uint64_t ai_calls = 0;
  uint64_t ai_errors = 0;        // an error type, or status >= 400
  uint64_t ai_rate_limited = 0;  // status 429
  double ai_cost_usd = 0;
};

// One second of the host.
struct NodeBucket {
  int64_t second = 0;
  uint64_t cpu_busy = 0, cpu_total = 0;  // tick deltas since the previous sample
  double memory = 0, disk = 0;           // utilisation, 0 to 1
  bool has_memory = false, has_disk = false;
  uint64_t events_lost = 0;  // delta since the previous sample
};

// What the host read at one moment (see resources::HostCollector).
struct NodeSample {
  std::optional<uint64_t> cpu_busy_ticks, cpu_total_ticks;  // cumulative
  std::optional<double> memory_utilization;
  std::optional<double> disk_utilization;  // the fullest filesystem
  uint64_t events_lost = 0;                // cumulative
};

struct SignalsOptions {
  size_t max_services = 500;
  uint32_t max_window_seconds = kMaxWindowSeconds;
};

class Signals {
 public:
  explicit Signals(SignalsOptions options = {});

  // The labels naming a service: service_name and, in a pod, its k8s_* labels.
  using ServiceLabels = std::map<std::string, std::string>;

  // `now_ns` is the injected monotonic clock; buckets are its whole seconds.
  // `service` is the key of a service (the process table's), `labels` its
  // labels; without them, the key is the service_name.
  void ObserveHttp(const std::string& service, const ServiceLabels& labels, int status,
                   double seconds, uint64_t now_ns);
  void ObserveHttp(const std::string& service, int status, double seconds, uint64_t now_ns);
  void ObserveAiCall(const std::string& service, const ServiceLabels& labels, int status,
                     bool error, double cost_usd, uint64_t now_ns);
  void ObserveAiCall(const std::string& service, int status, bool error, double cost_usd,
                     uint64_t now_ns);
  void ObserveNode(const NodeSample& sample, uint64_t now_ns);

  // The value of `rule`'s signal for `service` ("" for node signals) over
  // the rule's window ending at now; nullopt when the window has too little
  // data to judge (fewer than min_requests for ratios and percentiles, no
  // sample for node signals).
  std::optional<double> Value(const Rule& rule, const std::string& service, uint64_t now_ns) const;

  // Services with data in the last max_window_seconds.
  std::vector<std::string> Services() const;
  // The labels of a service with data; nullptr for one without.
  const ServiceLabels* LabelsOf(const std::string& service) const;

  // Drops buckets older than the longest window and services left without any.
  void Expire(uint64_t now_ns);

  uint64_t services_dropped() const { return services_dropped_; }
  size_t services() const { return services_.size(); }

 private:
  ServiceBucket* Bucket(const std::string& service, const ServiceLabels& labels,
                        uint64_t now_ns);

  struct Service {
    ServiceLabels labels;
    std::deque<ServiceBucket> buckets;
  };
  SignalsOptions options_;
  std::unordered_map<std::string, Service> services_;
  std::deque<NodeBucket> node_;
  std::optional<NodeSample> previous_node_;
  uint64_t services_dropped_ = 0;
};

}  // namespace sightline::alerts
