#include "business/rules.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "config/yaml_file.h"
#include "metrics/route.h"
#include "metrics/series_budget.h"
#include "util/text.h"

namespace sightline::business {
namespace {

using config::yaml::Fail;
using config::yaml::Invalid;
using config::yaml::OnlyKeys;
using config::yaml::Scalar;

// Families the daemon defines or will define: a rule may not shadow them.
constexpr std::string_view kReservedPrefixes[] = {
    "http_",    "gen_ai_", "db_",        "messaging_", "rpc_", "sightline_",
    "process_", "system_", "container_", "k8s_",       "hw_",  "go_"};

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

bool IsLabelName(std::string_view s) {
  return !s.empty() && IsNameStart(s[0]) && std::all_of(s.begin(), s.end(), IsNameChar);
}

size_t Size(const YAML::Node& n, const std::string& where, size_t min, size_t max) {
  return config::yaml::Whole<size_t>(n, where, min, max);
}

// "2xx", "201", "200-299" or "any"; several in a list.
void ParseStatus(const YAML::Node& n, const std::string& where, Rule& r) {
  auto one = [&](const YAML::Node& item) {
    const std::string s = Scalar(item, where);
    if (s == "any") {
      r.status.clear();
      return false;
    }
    if (s.size() == 3 && s[0] >= '1' && s[0] <= '5' && text::ToLower(s[1]) == 'x' && text::ToLower(s[2]) == 'x') {
      const int base = (s[0] - '0') * 100;
      r.status.emplace_back(base, base + 99);
      return true;
    }
    int lo = 0, hi = 0;
    const size_t dash = s.find('-');
    const std::string a = s.substr(0, dash), b = dash == std::string::npos ? a : s.substr(dash + 1);
    auto [e1, c1] = std::from_chars(a.data(), a.data() + a.size(), lo);
    auto [e2, c2] = std::from_chars(b.data(), b.data() + b.size(), hi);
    if (c1 != std::errc() || c2 != std::errc() || e1 != a.data() + a.size() ||
        e2 != b.data() + b.size() || lo < 100 || hi > 599 || lo > hi) {
      Fail(item, where + ": '" + s +
                     "' is not a status (201), a class (2xx), a range "
                     "(200-299) or 'any'");
    }
    r.status.emplace_back(lo, hi);
    return true;
  };
  if (n.IsSequence()) {
    if (n.size() == 0) Fail(n, where + ": empty list");
    for (const auto& item : n) {
      if (!one(item)) Fail(item, where + ": 'any' cannot be part of a list");
    }
  } else {
    one(n);
  }
}

void ParseMethods(const YAML::Node& n, const std::string& where, Rule& r) {
  auto one = [&](const YAML::Node& item) {
    std::string m = Scalar(item, where);
    if (m.empty() ||
        !std::all_of(m.begin(), m.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
      Fail(item, where + ": '" + m + "' is not an HTTP method in capitals (GET, POST, ...)");
    }
    r.methods.push_back(std::move(m));
  };
  if (n.IsSequence()) {
    if (n.size() == 0) Fail(n, where + ": empty list");
    for (const auto& item : n) one(item);
  } else {
    one(n);
  }
}

Extractor ParseExtractor(const YAML::Node& n, const std::string& where, const Rule& r, bool label) {
  if (!n.IsMap()) Fail(n, where + ": must be a map like {from: request_body, pointer: /field}");
  if (label) {
    OnlyKeys(n, where, {"from", "pointer", "param", "header", "values", "max_values"});
  } else {
    OnlyKeys(n, where, {"from", "pointer", "param", "header"});
  }
  if (!n["from"]) Fail(n, where + ": 'from' is missing");
  const std::string from = Scalar(n["from"], where + ".from");
  Extractor e;
  std::string_view key_name;
  if (from == "request_body" || from == "response_body") {
    e.source = from == "request_body" ? Source::kRequestBody : Source::kResponseBody;
    key_name = "pointer";
  } else if (from == "route") {
    e.source = Source::kRoute;
    key_name = "param";
  } else if (from == "query") {
    e.source = Source::kQuery;
    key_name = "param";
  } else if (from == "request_header" || from == "response_header") {
    e.source = from == "request_header" ? Source::kRequestHeader : Source::kResponseHeader;
    key_name = "header";
  } else {
    Fail(n["from"], where + ".from: '" + from +
                        "' is not one of request_body, response_body, "
                        "route, query, request_header, response_header");
  }
  for (std::string_view k : {"pointer", "param", "header"}) {
    if (k != key_name && n[std::string(k)]) {
      Fail(n[std::string(k)], where + ": '" + std::string(k) + "' does not apply to from: " + from);
    }
  }
  const YAML::Node key = n[std::string(key_name)];
  if (!key) Fail(n, where + ": from: " + from + " needs '" + std::string(key_name) + "'");
  e.key = Scalar(key, where + "." + std::string(key_name));
  switch (e.source) {
    case Source::kRequestBody:
    case Source::kResponseBody:
      try {
        e.pointer = nlohmann::json::json_pointer(e.key);
      } catch (const nlohmann::json::exception&) {
        Fail(key, where + ".pointer: '" + e.key +
                      "' is not a JSON pointer (RFC 6901: "
                      "\"/platform\", \"/items/0/id\", \"\" for the whole body)");
      }
      break;
    case Source::kRoute:
      if (r.route.find("{" + e.key + "}") == std::string::npos) {
        Fail(key, where + ".param: route '" + r.route + "' has no parameter {" + e.key + "}");
      }
      break;
    case Source::kRequestHeader:
    case Source::kResponseHeader:
      if (e.key.empty() || !std::all_of(e.key.begin(), e.key.end(),
                                        [](char c) { return IsNameChar(c) || c == '-'; })) {
        Fail(key, where + ".header: '" + e.key + "' is not a header name");
      }
      e.key = text::Lowered(e.key);
      break;
    case Source::kQuery:
      if (e.key.empty()) Fail(key, where + ".param: empty query parameter name");
      break;
  }
  return e;
}

LabelRule ParseLabel(const YAML::Node& name_node, const YAML::Node& n, const std::string& where,
                     const Rule& r) {
  LabelRule l;
  l.name = name_node.Scalar();
  if (!IsLabelName(l.name) || l.name.starts_with("__")) {
    Fail(name_node, where + ": '" + l.name +
                        "' is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, "
                        "not starting with __)");
  }
  if (metrics::IsIdentityLabel(l.name)) {
    Fail(name_node, where + ": '" + l.name + "' is set by sightline on every series");
  }
  l.from = ParseExtractor(n, where, r, true);
  if (n["values"] && n["max_values"]) {
    Fail(n["max_values"],
         where + ": give either 'values' (an allow-list) or 'max_values', not both");
  }
  if (const YAML::Node v = n["values"]) {
    if (!v.IsSequence() || v.size() == 0) Fail(v, where + ".values: must be a non-empty list");
    if (v.size() > kMaxMaxValues) {
      Fail(v, where + ".values: at most " + std::to_string(kMaxMaxValues) + " values");
    }
    for (const auto& item : v) {
      std::string s = Scalar(item, where + ".values");
      if (s.empty() || s.size() > kMaxLabelValueBytes) {
        Fail(item, where + ".values: '" + s + "' must be 1 to " +
                       std::to_string(kMaxLabelValueBytes) + " bytes");
      }
      if (s == "other" || s == "unknown" || s == "_overflow") {
        Fail(item, where + ".values: '" + s + "' is reserved for values outside the list");
      }
      if (std::find(l.values.begin(), l.values.end(), s) != l.values.end()) {
        Fail(item, where + ".values: '" + s + "' is listed twice");
      }
      l.values.push_back(std::move(s));
    }
  }
  if (const YAML::Node m = n["max_values"]) {
    l.max_values = Size(m, where + ".max_values", 1, kMaxMaxValues);
  }
  return l;
}

Rule ParseRule(const YAML::Node& n, size_t index, std::set<std::string>& names) {
  std::string where = "metrics[" + std::to_string(index) + "]";
  if (!n.IsMap()) Fail(n, where + ": must be a map with name, type, match, ...");
  OnlyKeys(n, where, {"name", "type", "help", "match", "labels", "value"});
  Rule r;
  r.line = n.Mark().line + 1;
  if (!n["name"]) Fail(n, where + ": 'name' is missing");
  r.name = Scalar(n["name"], where + ".name");
  if (auto err = CheckMetricName(r.name)) Fail(n["name"], where + ".name: " + *err);
  if (!names.insert(r.name).second)
    Fail(n["name"], where + ".name: '" + r.name + "' is defined twice");
  where += " (" + r.name + ")";

  if (!n["type"]) Fail(n, where + ": 'type' is missing (counter or gauge)");
  const std::string type = Scalar(n["type"], where + ".type");
  if (type == "counter") {
    r.type = MetricType::kCounter;
    if (!r.name.ends_with("_total")) Fail(n["name"], where + ": a counter's name ends in _total");
  } else if (type == "gauge") {
    r.type = MetricType::kGauge;
    if (r.name.ends_with("_total")) {
      Fail(n["name"], where + ": _total is for counters; a gauge's name must not end in it");
    }
  } else {
    Fail(n["type"], where + ".type: '" + type + "' is not counter or gauge");
  }
  r.help = n["help"] ? Scalar(n["help"], where + ".help") : "Business metric " + r.name;

  const YAML::Node match = n["match"];
  if (!match || !match.IsMap()) Fail(match ? match : n, where + ": 'match' (a map) is missing");
  OnlyKeys(match, where + ".match", {"method", "route", "status", "side", "service"});
  if (!match["route"]) {
    Fail(match, where + ".match: 'route' is missing (rules follow bodies only on their routes)");
  }
  r.route = Scalar(match["route"], where + ".match.route");
  if (auto err = metrics::RouteNormalizer::ValidatePattern(r.route)) {
    Fail(match["route"], where + ".match.route: " + *err);
  }
  if (match["method"]) ParseMethods(match["method"], where + ".match.method", r);
  r.status = {{200, 299}};
  if (match["status"]) {
    r.status.clear();
    ParseStatus(match["status"], where + ".match.status", r);
  }
  if (match["side"]) {
    const std::string side = Scalar(match["side"], where + ".match.side");
    if (side == "server") {
      r.side = SideMatch::kServer;
    } else if (side == "client") {
      r.side = SideMatch::kClient;
    } else if (side == "any") {
      r.side = SideMatch::kAny;
    } else {
      Fail(match["side"], where + ".match.side: '" + side + "' is not server, client or any");
    }
  }
  if (match["service"]) {
    const std::string text = Scalar(match["service"], where + ".match.service");
    try {
      r.service.emplace(text, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      Fail(match["service"], where + ".match.service: invalid regular expression '" +
                                 text + "': " + e.what());
    }
  }

  if (const YAML::Node labels = n["labels"]) {
    if (!labels.IsMap()) Fail(labels, where + ".labels: must be a map of label name to source");
    if (labels.size() > kMaxLabelsPerRule) {
      Fail(labels, where + ".labels: at most " + std::to_string(kMaxLabelsPerRule) + " labels");
    }
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      r.labels.push_back(
          ParseLabel(it->first, it->second, where + ".labels." + it->first.Scalar(), r));
      for (size_t i = 0; i + 1 < r.labels.size(); ++i) {
        if (r.labels[i].name == r.labels.back().name) {
          Fail(it->first, where + ".labels: '" + r.labels[i].name + "' is defined twice");
        }
      }
    }
  }
  if (const YAML::Node value = n["value"]) {
    r.value = ParseExtractor(value, where + ".value", r, false);
  } else if (r.type == MetricType::kGauge) {
    Fail(n, where + ": a gauge needs 'value' (where its number is read)");
  }
  return r;
}

}  // namespace

bool Rule::Uses(Source s) const {
  if (value && value->source == s) return true;
  return std::any_of(labels.begin(), labels.end(),
                     [s](const LabelRule& l) { return l.from.source == s; });
}

bool Rule::StatusMatches(int code) const {
  if (status.empty()) return true;
  return std::any_of(status.begin(), status.end(), [code](const auto& range) {
    return code >= range.first && code <= range.second;
  });
}

bool Rule::MethodMatches(std::string_view method) const {
  if (methods.empty()) return true;
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

std::optional<std::string> CheckMetricName(std::string_view name) {
  const std::string quoted = "'" + std::string(name) + "'";
  if (name.empty() || !IsNameStart(name[0]) ||
      !std::all_of(name.begin(), name.end(), [](char c) { return IsNameChar(c) || c == ':'; })) {
    return quoted + " is not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)";
  }
  if (name.starts_with("__")) return quoted + ": names starting with __ are reserved";
  for (auto prefix : kReservedPrefixes) {
    if (name.starts_with(prefix)) {
      return quoted + " uses the prefix " + std::string(prefix) +
             " of sightline's own metrics; pick a name of your business";
    }
  }
  return std::nullopt;
}

std::optional<RuleSet> ParseRules(std::string_view yaml, std::string* error) {
  try {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(yaml));
    } catch (const YAML::ParserException& e) {
      throw Invalid{e.mark.is_null() ? 0 : e.mark.line + 1, "not valid YAML: " + e.msg};
    }
    if (!root.IsMap()) Fail(root, "the file must be a map with a 'metrics' list");
    OnlyKeys(root, "top level", {"metrics", "max_body_bytes", "max_in_flight"});
    RuleSet set;
    if (root["max_body_bytes"]) {
      set.max_body_bytes = Size(root["max_body_bytes"], "max_body_bytes", 1, kMaxMaxBodyBytes);
    }
    if (root["max_in_flight"]) {
      set.max_in_flight = Size(root["max_in_flight"], "max_in_flight", 1, 1u << 20);
    }
    const YAML::Node metrics = root["metrics"];
    if (!metrics) Fail(root, "'metrics' is missing");
    if (!metrics.IsSequence() || metrics.size() == 0) {
      Fail(metrics, "metrics: must be a non-empty list of rules");
    }
    if (metrics.size() > kMaxRules) {
      Fail(metrics, "metrics: at most " + std::to_string(kMaxRules) + " rules");
    }
    std::set<std::string> names;
    for (size_t i = 0; i < metrics.size(); ++i) {
      set.rules.push_back(ParseRule(metrics[i], i, names));
    }
    return set;
  } catch (const Invalid& bad) {
    *error = config::yaml::Describe(bad);
  } catch (const YAML::Exception& e) {
    *error = config::yaml::Describe(e);
  }
  return std::nullopt;
}

std::optional<RuleSet> LoadRules(const std::string& path, std::string* error) {
  auto text = config::yaml::ReadFile(path, error);
  if (!text) return std::nullopt;
  std::string why;
  auto set = ParseRules(*text, &why);
  if (!set) *error = config::yaml::AtPath(path, why);
  return set;
}

}  // namespace sightline::business
