#include "metrics/route.h"

#include <algorithm>
#include <stdexcept>

namespace sightline::metrics {
namespace {

constexpr std::string_view kIdSegment = "{id}";
constexpr std::string_view kRestSegment = "{rest}";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLetter(char c) { return IsLower(c) || IsUpper(c); }
bool IsHex(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
// Visible ASCII; anything else is not valid unencoded in an HTTP target.
bool IsVisible(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f;
}
bool IsParamNameChar(char c) { return IsLetter(c) || IsDigit(c) || c == '_'; }
bool IsBase64UrlChar(char c) {
  return IsLetter(c) || IsDigit(c) || c == '-' || c == '_';
}
// Characters seen in API keys, session ids, signed names and the like.
bool IsTokenChar(char c) {
  return IsBase64UrlChar(c) || c == '.' || c == '~' || c == '+' || c == '=';
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsDigit);
}

// 8-4-4-4-12 hex digits, any case.
bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

// Hashes, object ids, hex-encoded keys. At least one digit so that words
// made of a-f ("deadbeef", "facade") stay readable.
bool IsHexId(std::string_view s) {
  return s.size() >= 8 && std::all_of(s.begin(), s.end(), IsHex) &&
         std::any_of(s.begin(), s.end(), IsDigit);
}

// Base64url text without digits: either it carries '=' padding, or its
// letters flip case at least every other character, which random text does
// and camelCase or Title-Case words do not.
bool IsBase64UrlLike(std::string_view s) {
  std::size_t end = s.size();
  std::size_t padding = 0;
  while (end > 0 && s[end - 1] == '=' && padding < 2) {
    --end;
    ++padding;
  }
  const std::string_view body = s.substr(0, end);
  if (body.empty() || !std::all_of(body.begin(), body.end(), IsBase64UrlChar)) {
    return false;
  }
  if (padding > 0) return true;
  std::size_t letter_pairs = 0;
  std::size_t case_flips = 0;
  bool upper = false;
  bool lower = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    upper = upper || IsUpper(body[i]);
    lower = lower || IsLower(body[i]);
    if (i > 0 && IsLetter(body[i - 1]) && IsLetter(body[i])) {
      ++letter_pairs;
      if (IsUpper(body[i - 1]) != IsUpper(body[i])) ++case_flips;
    }
  }
  return upper && lower && letter_pairs > 0 && case_flips * 2 >= letter_pairs;
}

bool IsOpaqueToken(std::string_view s) {
  constexpr std::size_t kMinTokenLength = 16;
  if (s.size() < kMinTokenLength) return false;
  if (!std::all_of(s.begin(), s.end(), IsTokenChar)) return false;
  const bool letters = std::any_of(s.begin(), s.end(), IsLetter);
  const bool digits = std::any_of(s.begin(), s.end(), IsDigit);
  return (letters && digits) || IsBase64UrlLike(s);
}

// Skips "scheme://authority" of an absolute-form target; returns the target
// unchanged when it is not absolute-form.
std::string_view PathOf(std::string_view target) {
  if (target.empty() || !IsLetter(target[0])) return target;
  std::size_t i = 1;
  while (i < target.size() &&
         (IsLetter(target[i]) || IsDigit(target[i]) || target[i] == '+' ||
          target[i] == '-' || target[i] == '.')) {
    ++i;
  }
  if (target.substr(i, 3) != "://") return target;
  const std::size_t slash = target.find('/', i + 3);
  return slash == std::string_view::npos ? std::string_view("/")
                                         : target.substr(slash);
}

// Splits on '/', dropping empty segments, and stops after `limit` segments:
// callers only need to know that there are more than that.
std::vector<std::string_view> SplitPath(std::string_view path,
                                        std::size_t limit) {
  std::vector<std::string_view> segments;
  std::size_t pos = 0;
  while (pos < path.size() && segments.size() < limit) {
    std::size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    if (next > pos) segments.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return segments;
}

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  out.append(s);
  out.push_back('"');
  return out;
}

}  // namespace

bool RouteNormalizer::IsIdentifierSegment(std::string_view segment) {
  if (!std::all_of(segment.begin(), segment.end(), IsVisible)) return true;
  return AllDigits(segment) || IsUuid(segment) || IsHexId(segment) ||
         IsOpaqueToken(segment);
}

std::optional<std::string> RouteNormalizer::ValidatePattern(
    std::string_view pattern) {
  const std::string prefix = "route pattern " + Quoted(pattern) + " ";
  if (pattern.empty()) return "route pattern is empty";
  if (pattern.front() != '/') return prefix + "must start with '/'";
  if (pattern.size() > kMaxRouteLength) {
    return prefix + "is longer than " + std::to_string(kMaxRouteLength) +
           " characters";
  }
  if (pattern.find('?') != std::string_view::npos) {
    return prefix + "must not contain '?' (query strings are ignored)";
  }
  if (pattern.find('#') != std::string_view::npos) {
    return prefix + "must not contain '#'";
  }
  if (!std::all_of(pattern.begin(), pattern.end(), IsVisible)) {
    return prefix + "contains a space, control or non-ASCII character";
  }
  if (pattern == "/") return std::nullopt;
  std::size_t pos = 1;
  while (pos <= pattern.size()) {
    std::size_t next = pattern.find('/', pos);
    if (next == std::string_view::npos) next = pattern.size();
    const std::string_view seg = pattern.substr(pos, next - pos);
    if (seg.empty()) {
      return prefix + "has an empty segment (double or trailing '/')";
    }
    const bool has_brace = seg.find_first_of("{}") != std::string_view::npos;
    if (has_brace) {
      if (seg.size() < 2 || seg.front() != '{' || seg.back() != '}' ||
          seg.substr(1, seg.size() - 2).find_first_of("{}") !=
              std::string_view::npos) {
        return prefix + "has segment " + Quoted(seg) +
               ": a parameter must be a whole segment like {name}";
      }
      const std::string_view name = seg.substr(1, seg.size() - 2);
      if (name.empty()) return prefix + "has an empty parameter name {}";
      if (!std::all_of(name.begin(), name.end(), IsParamNameChar)) {
        return prefix + "has parameter " + Quoted(seg) +
               ": names may contain only letters, digits and '_'";
      }
    }
    pos = next + 1;
  }
  return std::nullopt;
}

RouteNormalizer::RouteNormalizer(std::vector<std::string> patterns) {
  patterns_.reserve(patterns.size());
  for (std::string& text : patterns) {
    if (auto error = ValidatePattern(text)) throw std::invalid_argument(*error);
    Pattern p;
    for (std::string_view seg : SplitPath(text, kMaxRouteLength)) {
      p.segments.emplace_back(seg.front() == '{' ? std::string_view() : seg);
    }
    p.text = std::move(text);
    patterns_.push_back(std::move(p));
  }
}

const RouteNormalizer::Pattern* RouteNormalizer::Match(
    const std::vector<std::string_view>& segments) const {
  for (const Pattern& p : patterns_) {
    if (p.segments.size() != segments.size()) continue;
    bool match = true;
    for (std::size_t i = 0; i < segments.size() && match; ++i) {
      match = p.segments[i].empty() || p.segments[i] == segments[i];
    }
    if (match) return &p;
  }
  return nullptr;
}

std::string RouteNormalizer::Normalize(std::string_view target) const {
  const std::size_t cut = target.find_first_of("?#");
  if (cut != std::string_view::npos) target = target.substr(0, cut);
  const std::string_view path = PathOf(target);

  // Patterns never have more than kMaxRouteLength / 2 segments, and the
  // fallback needs one more than kMaxSegments to see that it must fold.
  const std::size_t limit = std::max(kMaxSegments, kMaxRouteLength / 2) + 1;
  const std::vector<std::string_view> segments = SplitPath(path, limit);

  if (const Pattern* p = Match(segments)) return p->text;
  if (segments.empty()) return "/";

  std::string route;
  route.reserve(kMaxRouteLength);
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const bool last = i + 1 == segments.size();
    if (i + 1 == kMaxSegments && !last) {
      route.append("/").append(kRestSegment);
      break;
    }
    const std::string_view seg =
        IsIdentifierSegment(segments[i]) ? kIdSegment : segments[i];
    // Leave room for "/{rest}" unless this is the final segment.
    const std::size_t reserve = last ? 0 : 1 + kRestSegment.size();
    if (route.size() + 1 + seg.size() + reserve > kMaxRouteLength) {
      route.append("/").append(kRestSegment);
      break;
    }
    route.append("/").append(seg);
  }
  return route;
}

}  // namespace sightline::metrics
