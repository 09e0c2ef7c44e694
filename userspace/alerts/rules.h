// Threshold alert rules: which signal, compared how, against which levels,
// for how long, how often to repeat, and for which services. Loaded from a
// YAML file (--alert-rules) laid over built-in defaults: a rule in the file
// replaces the default of the same name, other file rules are added, and
// `defaults: false` at the top of the file drops every default. Every
// problem in a file is reported with its line, so a bad file is refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::alerts {

inline constexpr size_t kMaxRules = 64;
inline constexpr uint32_t kMaxWindowSeconds = 3600;
inline constexpr uint32_t kDefaultWindowSeconds = 60;
inline constexpr uint32_t kDefaultMinRequests = 20;

enum class Comparison : uint8_t { kGt, kGte, kLt, kLte };

// kNone is "not breached"; the others are ordered by how bad they are.
enum class Severity : uint8_t { kNone = 0, kWarning = 1, kError = 2, kCritical = 3 };

// "gt", "gte", "lt", "lte" / ">", ">=", "<", "<=".
std::string_view ComparisonName(Comparison c);
std::string_view ComparisonSymbol(Comparison c);
// "none", "warning", "error", "critical".
std::string_view SeverityName(Severity s);

// True when `value` is on the alerting side of `threshold`.
bool Breaches(Comparison c, double value, double threshold);

// The signals a rule may watch (see signals.h for how each is computed).
enum class Signal : uint8_t {
  kHttpErrorRate,
  kHttpP95Latency,
  kHttpP99Latency,
  kHttpRequestRate,
  kGenAiCostPerHour,
  kGenAiErrorRate,
  kGenAiRateLimitedRatio,
  kSystemCpu,
  kSystemMemory,
  kSystemDisk,
  kEventsLostRate,
};
inline constexpr size_t kSignalCount = 11;

std::string_view SignalName(Signal s);
std::optional<Signal> SignalByName(std::string_view name);
// Node-level signals have one value for the host, not one per service.
bool IsNodeSignal(Signal s);

struct Rule {
  std::string name;  // alertname; defaults to the metric name
  Signal signal = Signal::kHttpErrorRate;
  // Thresholds by level (warning, error, critical); at least one is set.
  std::optional<double> levels[3];
  Comparison comparison = Comparison::kGt;
  uint32_t duration_seconds = 60;
  uint32_t cooldown_seconds = 300;
  uint32_t window_seconds = kDefaultWindowSeconds;
  uint32_t min_requests = kDefaultMinRequests;
  // A firing alert resolves only once the value is on the healthy side of
  // this; defaults to the lowest configured level.
  std::optional<double> recovery_value;
  // Service scope: exact name, or a regular expression over the whole name.
  std::string service;
  std::optional<std::regex> service_regex;
  int line = 0;  // 1-based line in its file; 0 for a built-in rule

  std::optional<double> threshold(Severity s) const {
    return s == Severity::kNone ? std::nullopt : levels[static_cast<int>(s) - 1];
  }
  // The highest level `value` breaches.
  Severity Level(double value) const;
  // True when `value` is on the healthy side of the recovery value.
  bool Recovered(double value) const;
  bool Applies(const std::string& service_name) const;
};

struct RuleSet {
  std::vector<Rule> rules;
};

// The built-in rules.
RuleSet DefaultRules();

// Parses a rules file's text and lays it over `defaults` (see the top of
// this file). On error returns nullopt and sets *error to "line N: what".
std::optional<RuleSet> ParseRules(std::string_view yaml, const RuleSet& defaults,
                                  std::string* error);

// The defaults with the file at `path` laid over them ("" = defaults only);
// errors read "<path>:<line>: what is wrong".
std::optional<RuleSet> LoadRules(const std::string& path, std::string* error);

}  // namespace sightline::alerts
