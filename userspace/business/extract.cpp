#include "business/extract.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "util/text.h"

namespace sightline::business {
namespace {

bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
using text::EqualsIgnoreCase;
using text::Trim;

// Calls fn(segment) for each non-empty '/'-separated segment until it returns
// false; what the route normaliser calls segments.
template <typename Fn>
void ForEachSegment(std::string_view path, Fn fn) {
  size_t pos = 0;
  while (pos < path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    if (next > pos && !fn(path.substr(pos, next - pos))) return;
    pos = next + 1;
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = text::ToLower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
               HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string_view ReasonName(Reason r) {
  switch (r) {
    case Reason::kNoBody:
      return "no_body";
    case Reason::kNotJson:
      return "not_json";
    case Reason::kBodyTooLarge:
      return "body_too_large";
    case Reason::kBodyIncomplete:
      return "body_incomplete";
    case Reason::kDecodeFailed:
      return "decode_failed";
    case Reason::kInvalidJson:
      return "invalid_json";
    case Reason::kMissingField:
      return "missing_field";
    case Reason::kNotAScalar:
      return "not_a_scalar";
    case Reason::kNotANumber:
      return "not_a_number";
    case Reason::kNegativeValue:
      return "negative_value";
    case Reason::kLabelOther:
      return "label_other";
    case Reason::kLabelOverflow:
      return "label_overflow";
    case Reason::kLabelTruncated:
      return "label_truncated";
    case Reason::kLabelNotUtf8:
      return "label_not_utf8";
    case Reason::kUnanswered:
      return "unanswered";
    case Reason::kCount:
      break;
  }
  return "unknown";
}

std::string_view TargetPath(std::string_view target) {
  const size_t cut = target.find_first_of("?#");
  if (cut != std::string_view::npos) target = target.substr(0, cut);
  if (target.empty() || !IsLetter(target[0])) return target;
  // Absolute form: skip "scheme://authority".
  const size_t scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos ||
      !std::all_of(target.begin(), target.begin() + scheme_end, [](char c) {
        return IsLetter(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
      })) {
    return target;
  }
  const size_t slash = target.find('/', scheme_end + 3);
  return slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
}

RouteMatcher::RouteMatcher(const std::string& pattern)
    : pattern_(pattern), normalizer_(std::vector<std::string>{pattern}) {
  ForEachSegment(pattern, [&](std::string_view seg) {
    const bool param = seg.front() == '{';
    segments_.emplace_back(param ? std::string_view() : seg);
    params_.emplace_back(param ? seg.substr(1, seg.size() - 2) : std::string_view());
    return true;
  });
}

bool RouteMatcher::SameShape(std::string_view path) const {
  size_t i = 0;
  bool same = true;
  ForEachSegment(path, [&](std::string_view seg) {
    if (i >= segments_.size() || (!segments_[i].empty() && segments_[i] != seg)) {
      same = false;
      return false;
    }
    ++i;
    return true;
  });
  return same && i == segments_.size();
}

bool RouteMatcher::Matches(std::string_view target) const {
  if (!SameShape(TargetPath(target))) return false;
  return normalizer_.Normalize(target) == pattern_;
}

std::string_view RouteMatcher::Param(std::string_view target, std::string_view name) const {
  size_t i = 0;
  std::string_view found;
  ForEachSegment(TargetPath(target), [&](std::string_view seg) {
    if (i < params_.size() && !params_[i].empty() && params_[i] == name) {
      found = seg;
      return false;
    }
    ++i;
    return true;
  });
  return found;
}

std::optional<std::string> QueryParam(std::string_view target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    // Names are compared decoded only when they need it: the common case costs nothing.
    const bool match = key.find_first_of("%+") == std::string_view::npos
                           ? key == name
                           : PercentDecode(key) == name;
    if (match) {
      return PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

bool IsJsonContentType(std::string_view value) {
  std::string_view type = Trim(value.substr(0, value.find(';')));
  constexpr std::string_view kApp = "application/";
  if (type.size() <= kApp.size() || !EqualsIgnoreCase(type.substr(0, kApp.size()), kApp)) return false;
  const std::string_view sub = type.substr(kApp.size());
  return EqualsIgnoreCase(sub, "json") ||
         (sub.size() > 5 && EqualsIgnoreCase(sub.substr(sub.size() - 5), "+json"));
}

bool TruncateLabel(std::string* value, size_t max) {
  if (value->size() <= max) return false;
  size_t cut = max;
  // Back off over continuation bytes (10xxxxxx) so a character is never split.
  while (cut > 0 && (static_cast<unsigned char>((*value)[cut]) & 0xC0) == 0x80) --cut;
  value->resize(cut);
  return true;
}

// The value at `pointer`, or nullptr. Array indices the pointer spells
// badly ("/items/01", "/items/-") are absent values, not exceptions.
static const nlohmann::json* Find(const nlohmann::json& doc,
                                  const nlohmann::json::json_pointer& pointer) {
  try {
    return doc.contains(pointer) ? &doc.at(pointer) : nullptr;
  } catch (const nlohmann::json::exception&) {
    return nullptr;
  }
}

std::optional<Reason> JsonLabel(const nlohmann::json& doc,
                                const nlohmann::json::json_pointer& pointer, std::string* out) {
  const nlohmann::json* found = Find(doc, pointer);
  if (found == nullptr) return Reason::kMissingField;
  const nlohmann::json& v = *found;
  if (v.is_null()) return Reason::kMissingField;
  if (v.is_object() || v.is_array()) return Reason::kNotAScalar;
  *out = v.is_string() ? v.get<std::string>() : v.dump();
  return std::nullopt;
}

std::optional<Reason> JsonNumber(const nlohmann::json& doc,
                                 const nlohmann::json::json_pointer& pointer, double* out) {
  const nlohmann::json* found = Find(doc, pointer);
  if (found == nullptr) return Reason::kMissingField;
  const nlohmann::json& v = *found;
  if (v.is_null()) return Reason::kMissingField;
  if (!v.is_number()) return Reason::kNotANumber;
  *out = v.get<double>();
  return std::nullopt;
}

bool SanitizeUtf8(std::string* value) {
  bool replaced = false;
  std::string& v = *value;
  size_t i = 0;
  while (i < v.size()) {
    const auto c = static_cast<unsigned char>(v[i]);
    size_t len = 0;
    uint32_t min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      min = 0x10000;
    }
    bool ok = len > 0 && i + len <= v.size();
    uint32_t cp = ok ? c & (0x7F >> len) : 0;
    for (size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(v[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (ok) {
      i += len;
    } else {
      v[i++] = '?';
      replaced = true;
    }
  }
  return replaced;
}

std::optional<Reason> TextNumber(std::string_view text, double* out) {
  text = Trim(text);
  if (text.empty()) return Reason::kNotANumber;
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return Reason::kNotANumber;
  *out = v;
  return std::nullopt;
}

}  // namespace sightline::business
