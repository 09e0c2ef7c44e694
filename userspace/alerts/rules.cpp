#include "alerts/rules.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>

#include "config/yaml_file.h"

namespace sightline::alerts {
namespace {

using config::yaml::Fail;
using config::yaml::Invalid;
using config::yaml::OnlyKeys;
using config::yaml::Scalar;

// Thresholds a fresh install starts with: the brief's latency levels, error
// and AI rates that page before users notice, host resources near full.
constexpr std::string_view kDefaultRules = R"(rules:
  - name: HighHttpErrorRate
    metric_name: http_error_rate
    warning_value: 0.05
    error_value: 0.10
    critical_value: 0.25
    comparison: gt
    recovery_value: 0.03
    duration_seconds: 60
    cooldown_seconds: 300
  - name: HighHttpP95Latency
    metric_name: http_p95_latency_seconds
    warning_value: 1.0
    error_value: 3.0
    critical_value: 5.0
    comparison: gt
    duration_seconds: 60
    cooldown_seconds: 300
  - name: HighHttpP99Latency
    metric_name: http_p99_latency_seconds
    warning_value: 2.0
    error_value: 5.0
    critical_value: 10.0
    comparison: gt
    duration_seconds: 60
    cooldown_seconds: 300
  - name: HighGenAiCost
    metric_name: gen_ai_cost_usd_per_hour
    warning_value: 10
    error_value: 50
    critical_value: 100
    comparison: gt
    window_seconds: 300
    duration_seconds: 300
    cooldown_seconds: 1800
  - name: HighGenAiErrorRate
    metric_name: gen_ai_error_rate
    warning_value: 0.05
    error_value: 0.10
    critical_value: 0.25
    comparison: gt
    min_requests: 10
    duration_seconds: 60
    cooldown_seconds: 300
  - name: GenAiRateLimited
    metric_name: gen_ai_rate_limited_ratio
    warning_value: 0.05
    error_value: 0.20
    comparison: gt
    min_requests: 10
    duration_seconds: 60
    cooldown_seconds: 300
  - name: HighHostCpu
    metric_name: system_cpu_utilization
    warning_value: 0.85
    critical_value: 0.95
    comparison: gt
    window_seconds: 300
    duration_seconds: 300
    cooldown_seconds: 1800
  - name: HighHostMemory
    metric_name: system_memory_utilization
    warning_value: 0.85
    critical_value: 0.95
    comparison: gt
    duration_seconds: 300
    cooldown_seconds: 1800
  - name: HighHostDisk
    metric_name: system_disk_utilization
    warning_value: 0.85
    critical_value: 0.95
    comparison: gt
    duration_seconds: 300
    cooldown_seconds: 3600
  - name: SightlineLosingEvents
    metric_name: sightline_events_lost_rate
    warning_value: 1
    error_value: 100
    comparison: gt
    duration_seconds: 60
    cooldown_seconds: 900
)";

constexpr std::string_view kSignalNames[kSignalCount] = {
    "http_error_rate",           "http_p95_latency_seconds",  "http_p99_latency_seconds",
    "http_request_rate",         "gen_ai_cost_usd_per_hour",  "gen_ai_error_rate",
    "gen_ai_rate_limited_ratio", "system_cpu_utilization",    "system_memory_utilization",
    "system_disk_utilization",   "sightline_events_lost_rate"};

constexpr std::string_view kLevelKeys[3] = {"warning_value", "error_value", "critical_value"};

double Number(const YAML::Node& n, const std::string& where) {
  const std::string s = Scalar(n, where);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    Fail(n, where + ": must be a number, got '" + s + "'");
  }
  return v;
}

uint32_t Whole(const YAML::Node& n, const std::string& where, uint32_t min, uint32_t max) {
  return config::yaml::Whole<uint32_t>(n, where, min, max);
}

bool Bool(const YAML::Node& n, const std::string& where) {
  const std::string s = Scalar(n, where);
  if (s == "true") return true;
  if (s == "false") return false;
  Fail(n, where + ": must be true or false, got '" + s + "'");
}

Rule ParseRule(const YAML::Node& n, const std::string& where) {
  if (!n.IsMap()) Fail(n, where + ": must be a map with metric_name and thresholds");
  OnlyKeys(n, where,
           {"name", "metric_name", "warning_value", "error_value", "critical_value", "comparison",
            "duration_seconds", "cooldown_seconds", "window_seconds", "min_requests",
            "recovery_value", "service", "service_regex"});
  Rule r;
  r.line = n.Mark().is_null() ? 0 : n.Mark().line + 1;
  if (!n["metric_name"]) Fail(n, where + ": 'metric_name' is missing");
  const std::string metric = Scalar(n["metric_name"], where + ".metric_name");
  const auto signal = SignalByName(metric);
  if (!signal) {
    std::string list;
    for (auto s : kSignalNames) list.append(list.empty() ? "" : ", ").append(s);
    Fail(n["metric_name"],
         where + ": unknown metric_name '" + metric + "' (expected " + list + ")");
  }
  r.signal = *signal;
  r.name = n["name"] ? Scalar(n["name"], where + ".name") : metric;
  const bool name_ok = !r.name.empty() && r.name.size() <= 128 &&
                       std::all_of(r.name.begin(), r.name.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                c == '-' || c == '.' || c == ':';
                       });
  if (!name_ok) {
    Fail(n["name"],
         where + ": name '" + r.name + "' must be 1 to 128 letters, digits, '_', '-', '.' or ':'");
  }
  if (n["comparison"]) {
    const std::string c = Scalar(n["comparison"], where + ".comparison");
    if (c == "gt") {
      r.comparison = Comparison::kGt;
    } else if (c == "gte") {
      r.comparison = Comparison::kGte;
    } else if (c == "lt") {
      r.comparison = Comparison::kLt;
    } else if (c == "lte") {
      r.comparison = Comparison::kLte;
    } else {
      Fail(n["comparison"], where + ": comparison must be gt, gte, lt or lte, got '" + c + "'");
    }
  }
  for (int i = 0; i < 3; ++i) {
    const std::string key(kLevelKeys[i]);
    if (n[key]) r.levels[i] = Number(n[key], where + "." + key);
  }
  if (!r.levels[0] && !r.levels[1] && !r.levels[2]) {
    Fail(n, where + ": at least one of warning_value, error_value, critical_value is needed");
  }
  // Each higher level must be at least as bad as the ones below it.
  std::optional<double> below;
  for (int i = 0; i < 3; ++i) {
    if (!r.levels[i]) continue;
    if (below && *r.levels[i] != *below && !Breaches(r.comparison, *r.levels[i], *below)) {
      Fail(n[std::string(kLevelKeys[i])],
           where + ": " + std::string(kLevelKeys[i]) + " must be on the " +
               std::string(ComparisonName(r.comparison)) + " side of the lower levels");
    }
    below = r.levels[i];
  }
  if (n["duration_seconds"]) {
    r.duration_seconds = Whole(n["duration_seconds"], where + ".duration_seconds", 0, 86400);
  }
  if (n["cooldown_seconds"]) {
    r.cooldown_seconds = Whole(n["cooldown_seconds"], where + ".cooldown_seconds", 1, 7 * 86400);
  }
  if (n["window_seconds"]) {
    r.window_seconds = Whole(n["window_seconds"], where + ".window_seconds", 1, kMaxWindowSeconds);
  }
  if (n["min_requests"]) {
    r.min_requests = Whole(n["min_requests"], where + ".min_requests", 1, 1000000);
  }
  if (n["recovery_value"]) {
    const double v = Number(n["recovery_value"], where + ".recovery_value");
    double lowest = 0;
    for (int i = 2; i >= 0; --i) {
      if (r.levels[i]) lowest = *r.levels[i];
    }
    // Recovery must lie on the healthy side of the lowest level, or an
    // alert could resolve while still breaching.
    if (Breaches(r.comparison, v, lowest)) {
      Fail(n["recovery_value"], where + ": recovery_value must not breach the lowest level (" +
                                    std::to_string(lowest) + ")");
    }
    r.recovery_value = v;
  }
  if (n["service"] && n["service_regex"]) {
    Fail(n, where + ": give either service (exact name) or service_regex, not both");
  }
  if (n["service"]) r.service = Scalar(n["service"], where + ".service");
  if (n["service_regex"]) {
    const std::string text = Scalar(n["service_regex"], where + ".service_regex");
    try {
      r.service_regex.emplace(text, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      Fail(n["service_regex"],
           where + ": invalid regular expression '" + text + "': " + e.what());
    }
  }
  if (IsNodeSignal(r.signal) && (!r.service.empty() || r.service_regex)) {
    Fail(n, where + ": " + metric + " is a node-level signal and has no service scope");
  }
  return r;
}

}  // namespace

std::string_view ComparisonName(Comparison c) {
  switch (c) {
    case Comparison::kGt:
      return "gt";
    case Comparison::kGte:
      return "gte";
    case Comparison::kLt:
      return "lt";
    case Comparison::kLte:
      return "lte";
  }
  return "gt";
}

std::string_view ComparisonSymbol(Comparison c) {
  switch (c) {
    case Comparison::kGt:
      return ">";
    case Comparison::kGte:
      return ">=";
    case Comparison::kLt:
      return "<";
    case Comparison::kLte:
      return "<=";
  }
  return ">";
}

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kNone:
      return "none";
    case Severity::kWarning:
      return "warning";
    case Severity::kError:
      return "error";
    case Severity::kCritical:
      return "critical";
  }
  return "none";
}

bool Breaches(Comparison c, double value, double threshold) {
  switch (c) {
    case Comparison::kGt:
      return value > threshold;
    case Comparison::kGte:
      return value >= threshold;
    case Comparison::kLt:
      return value < threshold;
    case Comparison::kLte:
      return value <= threshold;
  }
  return false;
}

std::string_view SignalName(Signal s) { return kSignalNames[static_cast<size_t>(s)]; }

std::optional<Signal> SignalByName(std::string_view name) {
  for (size_t i = 0; i < kSignalCount; ++i) {
    if (kSignalNames[i] == name) return static_cast<Signal>(i);
  }
  return std::nullopt;
}

bool IsNodeSignal(Signal s) {
  return s == Signal::kSystemCpu || s == Signal::kSystemMemory || s == Signal::kSystemDisk ||
         s == Signal::kEventsLostRate;
}

Severity Rule::Level(double value) const {
  for (int i = 2; i >= 0; --i) {
    if (levels[i] && Breaches(comparison, value, *levels[i])) return static_cast<Severity>(i + 1);
  }
  return Severity::kNone;
}

bool Rule::Recovered(double value) const {
  if (recovery_value) return !Breaches(comparison, value, *recovery_value);
  return Level(value) == Severity::kNone;
}

bool Rule::Applies(const std::string& service_name) const {
  if (!service.empty()) return service_name == service;
  if (service_regex) return std::regex_match(service_name, *service_regex);
  return true;
}

RuleSet DefaultRules() {
  std::string error;
  auto set = ParseRules(kDefaultRules, RuleSet{}, &error);
  // The built-in text is tested; a failure here is a programming error.
  if (!set) return RuleSet{};
  for (auto& r : set->rules) r.line = 0;
  return *set;
}

std::optional<RuleSet> ParseRules(std::string_view yaml, const RuleSet& defaults,
                                  std::string* error) {
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    if (!root.IsMap()) Fail(root, "the file must be a map with a 'rules' list");
    OnlyKeys(root, "top level", {"defaults", "rules"});
    RuleSet out;
    if (!root["defaults"] || Bool(root["defaults"], "defaults")) out = defaults;
    const YAML::Node list = root["rules"];
    if (list && !list.IsNull()) {
      if (!list.IsSequence()) Fail(list, "rules: must be a list");
      std::set<std::string> seen;
      for (size_t i = 0; i < list.size(); ++i) {
        Rule r = ParseRule(list[i], "rules[" + std::to_string(i) + "]");
        if (!seen.insert(r.name).second) {
          Fail(list[i], "rules[" + std::to_string(i) + "]: a second rule named '" + r.name + "'");
        }
        auto same = std::find_if(out.rules.begin(), out.rules.end(),
                                 [&](const Rule& d) { return d.name == r.name; });
        if (same != out.rules.end()) {
          *same = std::move(r);
        } else {
          out.rules.push_back(std::move(r));
        }
      }
    }
    if (out.rules.size() > kMaxRules) {
      Fail(root, "more than " + std::to_string(kMaxRules) + " rules");
    }
    return out;
  } catch (const Invalid& e) {
    *error = config::yaml::Describe(e);
  } catch (const YAML::Exception& e) {
    *error = config::yaml::Describe(e);
  }
  return std::nullopt;
}

std::optional<RuleSet> LoadRules(const std::string& path, std::string* error) {
  if (path.empty()) return DefaultRules();
  auto text = config::yaml::ReadFile(path, error);
  if (!text) return std::nullopt;
  std::string why;
  auto set = ParseRules(*text, DefaultRules(), &why);
  if (!set) *error = config::yaml::AtPath(path, why);
  return set;
}

}  // namespace sightline::alerts
