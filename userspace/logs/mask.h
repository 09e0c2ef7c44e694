// Secret masking for access-log lines: nothing a client or server put on the
// wire as a credential may reach a log file.
//
// Three layers, all on by default:
//  - headers by name: Authorization, Cookie, Set-Cookie, X-Api-Key, Api-Key,
//    X-Goog-Api-Key (and Proxy-Authorization) are always "***";
//  - query parameters by name: token, key, api_key, apikey, password, passwd,
//    secret, signature, sig, access_token, auth, and names ending in one of
//    them after a '_', '-' or '.' (refresh_token, client_secret, x-api-key);
//  - values by shape, anywhere in any string: API keys (sk-..., sk-ant-...,
//    sk_live_..., AKIA + 16, AIza..., xox[abprs]-..., ghp_/gho_/ghu_/ghs_/ghr_...),
//    JWTs (eyJ....), e-mail addresses ('@' or its URL encoding %40) and card
//    numbers (13 to 19 digits, optionally grouped by single spaces or dashes,
//    passing the Luhn check).
// Shapes only match at a word start and end, so "task-123", "skip-this" or a
// 16-digit order id failing Luhn stay as they are. The built-in scanners are
// hand-written single passes (this runs for every logged line); user patterns
// (std::regex, ECMAScript) run after them, only when configured.
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::logs {

inline constexpr std::string_view kMasked = "***";

class Masker {
 public:
  // Throws std::regex_error for an invalid pattern (checked at start-up).
  explicit Masker(const std::vector<std::string>& extra_patterns = {});

  // `text` with every secret-shaped value replaced by "***".
  std::string Text(std::string_view text) const;
  // A request target: values of sensitive query parameters become "***",
  // then Text() runs over the whole.
  std::string Target(std::string_view target) const;
  // A header value: "***" for a sensitive header name, else Text(value).
  std::string Header(std::string_view name, std::string_view value) const;

  static bool IsSensitiveHeader(std::string_view name);
  static bool IsSensitiveParam(std::string_view name);
  // Luhn checksum over the digits of `s` (other characters skipped).
  static bool LuhnValid(std::string_view digits);

  // Reads one regex per line from `path` ('#' comments and blank lines
  // skipped). nullopt and *error on failure.
  static std::optional<std::vector<std::string>> LoadPatternFile(const std::string& path,
                                                                 std::string* error);
  // The message of the first invalid pattern, or nullopt.
  static std::optional<std::string> ValidatePatterns(const std::vector<std::string>& patterns);

 private:
  std::string Builtin(std::string_view text) const;
  std::vector<std::regex> extra_;
};

}  // namespace sightline::logs
