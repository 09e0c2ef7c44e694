#include "alerts/engine.h"

#include <cmath>
#include <cstdio>
#include <set>

namespace sightline::alerts {
namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000ull;

}  // namespace

std::string FormatValue(double v) {
  if (std::isnan(v)) return "no data";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string_view Alert::StatusWord() const {
  switch (kind) {
    case AlertKind::kResolved:
      return "RESOLVED";
    case AlertKind::kTest:
      return "TEST";
    default:
      return "FIRING";
  }
}

std::string_view AlertKindName(AlertKind k) {
  switch (k) {
    case AlertKind::kFiring:
      return "firing";
    case AlertKind::kRepeat:
      return "repeat";
    case AlertKind::kResolved:
      return "resolved";
    case AlertKind::kTest:
      return "test";
  }
  return "firing";
}

std::map<std::string, std::string> Alert::PodLabels() const {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : service_labels) {
    if (name.starts_with("k8s_")) out.emplace(name, value);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> Alert::PodFields() const {
  static constexpr std::pair<const char*, const char*> kFields[] = {
      {"k8s_namespace_name", "Namespace"}, {"k8s_pod_name", "Pod"}, {"k8s_container_name", "Container"}};
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [label, title] : kFields) {
    if (auto it = service_labels.find(label); it != service_labels.end()) {
      out.emplace_back(title, it->second);
    }
  }
  return out;
}

std::string Alert::DedupKey() const {
  std::string key =
      "sightline/" + host + "/" + alertname + "/" + (service.empty() ? "_node" : service);
  for (const auto& [name, value] : PodLabels()) key += "/" + value;
  return key;
}

std::string Alert::Summary() const {
  std::string s = alertname + " ";
  if (kind == AlertKind::kTest) {
    s += "test: a test alert from sightline, no action needed";
  } else if (resolved()) {
    s += "resolved: " + metric + " " + FormatValue(value);
  } else {
    s += std::string(SeverityName(severity)) + ": " + metric + " " + FormatValue(value) + " " +
         std::string(ComparisonSymbol(comparison)) + " " + FormatValue(threshold);
    s += " over " + std::to_string(window_seconds) + "s";
  }
  if (!service.empty()) {
    s += " (service " + service;
    const auto pod = PodLabels();
    if (auto ns = pod.find("k8s_namespace_name"); ns != pod.end()) s += " in " + ns->second;
    s += ")";
  }
  return s;
}

Engine::Engine(prometheus::Registry& registry, RuleSet rules, Notify notify, std::string host)
    : rules_(std::move(rules)),
      notify_(std::move(notify)),
      host_(std::move(host)),
      firing_(prometheus::BuildGauge()
                  .Name("sightline_alerts_firing")
                  .Help("1 for each alert firing, by rule name, severity and service "
                        "(service_name is empty for node-level alerts)")
                  .Register(registry)) {}

size_t Engine::firing() const {
  size_t n = 0;
  for (const auto& [key, s] : states_) n += s.active != Severity::kNone;
  return n;
}

void Engine::Evaluate(const Signals& signals, uint64_t now_ns, int64_t wall_ms) {
  const std::vector<std::string> seen = signals.Services();
  for (size_t i = 0; i < rules_.rules.size(); ++i) {
    const Rule& rule = rules_.rules[i];
    std::set<std::string> services;
    if (IsNodeSignal(rule.signal)) {
      services.insert("");
    } else {
      for (const auto& key : seen) {
        const Signals::ServiceLabels* labels = signals.LabelsOf(key);
        const auto name = labels ? labels->find("service_name") : Signals::ServiceLabels::const_iterator{};
        if (rule.Applies(labels && name != labels->end() ? name->second : key)) {
          services.insert(key);
        }
      }
      // A service gone quiet still gets its resolve.
      for (auto it = states_.lower_bound({i, ""}); it != states_.end() && it->first.first == i;
           ++it) {
        services.insert(it->first.second);
      }
    }
    for (const auto& service : services) {
      const std::optional<double> value = signals.Value(rule, service, now_ns);
      auto it = states_.find({i, service});
      if (it == states_.end()) {
        // Nothing to remember for a value that breaches nothing.
        if (!value || rule.Level(*value) == Severity::kNone) continue;
        it = states_.emplace(Key{i, service}, State{}).first;
        if (!service.empty()) {
          const Signals::ServiceLabels* labels = signals.LabelsOf(service);
          it->second.labels = labels ? *labels : Signals::ServiceLabels{{"service_name", service}};
        }
      }
      Step(rule, it->second, value, now_ns, wall_ms);
      const State& s = it->second;
      if (s.active == Severity::kNone && !s.breach_since[0] && !s.breach_since[1] &&
          !s.breach_since[2]) {
        states_.erase(it);
      }
    }
  }
}

void Engine::Step(const Rule& rule, State& s, std::optional<double> value, uint64_t now_ns,
                  int64_t wall_ms) {
  const Severity level = value ? rule.Level(*value) : Severity::kNone;
  for (int l = 0; l < 3; ++l) {
    const bool breached = rule.levels[l] && static_cast<int>(level) >= l + 1;
    if (!breached) {
      s.breach_since[l].reset();
    } else if (!s.breach_since[l]) {
      s.breach_since[l] = now_ns;
    }
  }
  const uint64_t duration_ns = uint64_t(rule.duration_seconds) * kNsPerSecond;
  Severity held = Severity::kNone;
  for (int l = 2; l >= 0; --l) {
    if (s.breach_since[l] && now_ns - *s.breach_since[l] >= duration_ns) {
      held = static_cast<Severity>(l + 1);
      break;
    }
  }

  if (s.active == Severity::kNone) {
    if (held == Severity::kNone) return;  // nothing, or pending
    s.active = held;
    s.starts_at_ms = wall_ms;
    s.last_notified_ns = now_ns;
    SetGauge(rule, s, Severity::kNone, held);
    Send(AlertKind::kFiring, rule, s, held, Severity::kNone, value, wall_ms);
    return;
  }
  if (!value || rule.Recovered(*value)) {
    const Severity last = s.active;
    SetGauge(rule, s, last, Severity::kNone);
    s.active = Severity::kNone;
    Send(AlertKind::kResolved, rule, s, last, Severity::kNone, value, wall_ms);
    return;
  }
  if (held > s.active) {  // escalation: at once, whatever the cooldown
    const Severity previous = s.active;
    s.active = held;
    s.last_notified_ns = now_ns;
    SetGauge(rule, s, previous, held);
    Send(AlertKind::kFiring, rule, s, held, previous, value, wall_ms);
    return;
  }
  if (now_ns - s.last_notified_ns >= uint64_t(rule.cooldown_seconds) * kNsPerSecond) {
    // Between the recovery value and the lowest level nothing is held: the
    // alert keeps its level until it recovers.
    const Severity next = held == Severity::kNone ? s.active : held;
    const Severity previous = next != s.active ? s.active : Severity::kNone;
    SetGauge(rule, s, s.active, next);
    s.active = next;
    s.last_notified_ns = now_ns;
    Send(AlertKind::kRepeat, rule, s, next, previous, value, wall_ms);
  }
}

void Engine::Send(AlertKind kind, const Rule& rule, const State& s, Severity severity,
                  Severity previous, std::optional<double> value, int64_t wall_ms) {
  Alert a;
  a.kind = kind;
  a.alertname = rule.name;
  a.metric = std::string(SignalName(rule.signal));
  if (auto name = s.labels.find("service_name"); name != s.labels.end()) a.service = name->second;
  a.service_labels = s.labels;
  a.severity = severity;
  a.previous = previous;
  a.value = value ? *value : std::nan("");
  a.threshold = rule.threshold(severity).value_or(std::nan(""));
  a.comparison = rule.comparison;
  a.window_seconds = rule.window_seconds;
  a.starts_at_ms = s.starts_at_ms;
  a.at_ms = wall_ms;
  a.repeat_after_seconds = rule.cooldown_seconds;
  a.host = host_;
  notify_(a);
}

void Engine::SetGauge(const Rule& rule, const State& state, Severity from, Severity to) {
  if (from == to) return;
  auto labels = [&](Severity s) {
    prometheus::Labels l = state.labels;
    l.emplace("service_name", "");  // node-level alerts
    l["alertname"] = rule.name;
    l["severity"] = std::string(SeverityName(s));
    return l;
  };
  if (from != Severity::kNone) firing_.Remove(&firing_.Add(labels(from)));
  if (to != Severity::kNone) firing_.Add(labels(to)).Set(1);
}

}  // namespace sightline::alerts
