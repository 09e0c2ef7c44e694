// Business rules: which observed HTTP exchanges become which business
// metrics (counters and gauges), and where their label values and numbers
// come from. Loaded from a YAML file (--business-rules); every problem in it
// is reported with its line so a bad file is refused at start, and kept out
// on reload.
//
// Label values come from traffic, so every label is bounded: an allow-list
// (anything else becomes "other") or a cap on distinct values (past it,
// "_overflow"). Request and response bodies are read only up to
// max_body_bytes and only when their Content-Type is JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sightline::business {

inline constexpr size_t kMaxRules = 64;  // a bit per rule in the hot path
inline constexpr size_t kMaxLabelsPerRule = 8;
inline constexpr size_t kDefaultMaxValues = 20;
inline constexpr size_t kMaxMaxValues = 1000;
inline constexpr size_t kMaxLabelValueBytes = 64;  // longer values are truncated
inline constexpr size_t kDefaultMaxBodyBytes = 64 * 1024;
inline constexpr size_t kMaxMaxBodyBytes = 16u << 20;
inline constexpr size_t kDefaultMaxInFlight = 4096;

// Where a label value or a metric value is read.
enum class Source : uint8_t {
  kRequestBody,     // JSON pointer into the request body
  kResponseBody,    // JSON pointer into the response body
  kRoute,           // a {param} of the rule's route
  kRequestHeader,   // a request header, by name
  kResponseHeader,  // a response header, by name
  kQuery,           // a query-string parameter, by name
};

// "request_body", "response_body", "route", "request_header",
// "response_header", "query".

struct Extractor {
  Source source = Source::kRequestBody;
  std::string key;  // pointer text, route or query parameter, lowercased header name
  nlohmann::json::json_pointer pointer;  // for the body sources
};

struct LabelRule {
  std::string name;
  Extractor from;
  std::vector<std::string> values;  // allow-list; empty: bounded by max_values instead
  size_t max_values = kDefaultMaxValues;
};

enum class MetricType : uint8_t { kCounter, kGauge };
enum class SideMatch : uint8_t { kServer, kClient, kAny };

struct Rule {
  std::string name;
  std::string help;
  MetricType type = MetricType::kCounter;
  int line = 0;  // 1-based line of the rule in its file

  // match
  std::vector<std::string> methods;  // empty: any method
  std::string route;                 // a route pattern, e.g. /api/campaigns/{id}
  SideMatch side = SideMatch::kServer;
  std::vector<std::pair<int, int>> status;  // inclusive ranges; empty: any status
  std::optional<std::regex> service;        // matched against the whole service_name

  std::vector<LabelRule> labels;
  std::optional<Extractor> value;  // counter: 1 per match when absent; gauge: required

  bool Uses(Source s) const;
  bool StatusMatches(int status) const;
  bool MethodMatches(std::string_view method) const;
};

struct RuleSet {
  std::vector<Rule> rules;
  size_t max_body_bytes = kDefaultMaxBodyBytes;
  size_t max_in_flight = kDefaultMaxInFlight;  // exchanges followed at once
};

// Parses rules from YAML text. On error returns nullopt and sets *error to
// "line N: what is wrong" (or just the message when no line applies).
std::optional<RuleSet> ParseRules(std::string_view yaml, std::string* error);

// Reads and parses a rules file; errors read "<path>:<line>: what is wrong".
std::optional<RuleSet> LoadRules(const std::string& path, std::string* error);

// A valid Prometheus metric name that no built-in family uses or may use
// (http_*, gen_ai_*, db_*, sightline_*, ...); the reason when not.
std::optional<std::string> CheckMetricName(std::string_view name);

}  // namespace sightline::business
