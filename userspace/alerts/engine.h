// Turns signal values into alert notifications, once a second, per rule and
// service:
//  - the highest breached level wins;
//  - a level fires only once the value has breached it for the rule's
//    duration_seconds (until then the alert is pending);
//  - a rise to a higher level notifies at once;
//  - an unchanged firing alert repeats no sooner than cooldown_seconds (a
//    repeat carries the level then held, which may be lower);
//  - a firing alert resolves, with exactly one notification, once the value
//    is on the healthy side of the rule's recovery value (or the window has
//    too little data to judge), which damps flapping around a threshold.
// Clocks are passed in, so tests drive it second by second.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alerts/rules.h"
#include "alerts/signals.h"

namespace sightline::alerts {

enum class AlertKind : uint8_t { kFiring, kRepeat, kResolved, kTest };

// "firing", "repeat", "resolved", "test".
std::string_view AlertKindName(AlertKind k);

// A value or threshold for people: "%.6g", "no data" for NaN (a window
// without data to judge).
std::string FormatValue(double v);

// One notification, as every channel receives it.
struct Alert {
  AlertKind kind = AlertKind::kFiring;
  std::string alertname;
  std::string metric;                      // the signal's name
  std::string service;                     // "" for node-level alerts
  // service_name and, for a service in a Kubernetes pod, its k8s_* labels
  // (k8s_namespace_name, k8s_container_name, k8s_pod_name); empty for
  // node-level alerts.
  std::map<std::string, std::string> service_labels;
  // The k8s_* labels alone: the service's place in the cluster.
  std::map<std::string, std::string> PodLabels() const;
  // The same for people: ("Namespace", ...), ("Pod", ...), ("Container", ...),
  // those present, in that order.
  std::vector<std::pair<std::string, std::string>> PodFields() const;
  Severity severity = Severity::kWarning;  // on resolve: the last firing level
  // On a firing or repeat whose level changed: the level it replaces.
  Severity previous = Severity::kNone;
  double value = 0;      // NaN when the window had no data to judge
  double threshold = 0;  // of `severity`
  Comparison comparison = Comparison::kGt;
  uint32_t window_seconds = 0;
  int64_t starts_at_ms = 0;          // Unix ms when it started firing
  int64_t at_ms = 0;                 // Unix ms of this notification
  int64_t repeat_after_seconds = 0;  // the rule's cooldown
  std::string host;                  // the node's name

  bool resolved() const { return kind == AlertKind::kResolved; }
  // When it started firing (a test alert: now), Unix ms.
  int64_t since_ms() const { return starts_at_ms ? starts_at_ms : at_ms; }
  // "FIRING" (repeats too), "RESOLVED" or "TEST", for people.
  std::string_view StatusWord() const;
  // Identical for every notification of one alert (PagerDuty dedup_key).
  std::string DedupKey() const;
  // One line: "HighHttpErrorRate warning: http_error_rate 0.3 > 0.2 (service checkout)".
  std::string Summary() const;
};

class Engine {
 public:
  using Notify = std::function<void(const Alert&)>;

  // Exports sightline_alerts_firing; `notify` runs on the evaluating thread
  // and must not block (it queues).
  Engine(prometheus::Registry& registry, RuleSet rules, Notify notify, std::string host);

  // Judges every rule against `signals`; `now_ns` is monotonic, `wall_ms`
  // Unix milliseconds for the notifications.
  void Evaluate(const Signals& signals, uint64_t now_ns, int64_t wall_ms);

  const RuleSet& rules() const { return rules_; }
  size_t firing() const;

 private:
  struct State {
    std::map<std::string, std::string> labels;  // the service's (empty for node alerts)
    std::optional<uint64_t> breach_since[3];  // per level: when the value started breaching it
    Severity active = Severity::kNone;        // firing level
    uint64_t last_notified_ns = 0;
    int64_t starts_at_ms = 0;
  };
  using Key = std::pair<size_t, std::string>;  // (rule index, service key)

  void Step(const Rule& rule, State& s, std::optional<double> value, uint64_t now_ns,
            int64_t wall_ms);
  void Send(AlertKind kind, const Rule& rule, const State& s, Severity severity,
            Severity previous, std::optional<double> value, int64_t wall_ms);
  void SetGauge(const Rule& rule, const State& s, Severity from, Severity to);

  RuleSet rules_;
  Notify notify_;
  std::string host_;
  prometheus::Family<prometheus::Gauge>& firing_;
  std::map<Key, State> states_;
};

}  // namespace sightline::alerts
