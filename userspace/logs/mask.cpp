#include "logs/mask.h"

#include <array>
#include <fstream>

#include "util/text.h"

namespace sightline::logs {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || IsUpper(c); }
bool IsWord(char c) { return IsAlpha(c) || IsDigit(c); }
bool IsKeyChar(char c) { return IsWord(c) || c == '_' || c == '-'; }
bool IsSlackChar(char c) { return IsWord(c) || c == '-'; }
bool IsLocalChar(char c) {
  return IsWord(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
using text::EqualsIgnoreCase;

// Length of the run of `pred` characters from `i`.
template <typename Pred>
size_t RunOf(std::string_view s, size_t i, Pred pred) {
  size_t j = i;
  while (j < s.size() && pred(s[j])) ++j;
  return j - i;
}

// A token made of `prefix` then at least `min_body` characters of `pred`,
// ending where those characters end. Returns its length or 0.
template <typename Pred>
size_t Prefixed(std::string_view s, size_t i, std::string_view prefix, size_t min_body, Pred pred) {
  if (s.compare(i, prefix.size(), prefix) != 0) return 0;
  const size_t body = RunOf(s, i + prefix.size(), pred);
  return body >= min_body ? prefix.size() + body : 0;
}

// AKIA/ASIA + exactly 16 upper-case letters or digits, then a word end.
size_t AwsKeyId(std::string_view s, size_t i) {
  if (s.compare(i, 4, "AKIA") != 0 && s.compare(i, 4, "ASIA") != 0) return 0;
  const size_t body = RunOf(s, i + 4, [](char c) { return IsUpper(c) || IsDigit(c); });
  if (body != 16) return 0;
  const size_t end = i + 20;
  return end < s.size() && IsWord(s[end]) ? 0 : 20;
}

// eyJ<header>.<payload>.<signature>, the signature possibly empty ("alg": "none").
size_t Jwt(std::string_view s, size_t i) {
  if (s.compare(i, 3, "eyJ") != 0) return 0;
  size_t j = i + RunOf(s, i, IsKeyChar);
  if (j - i < 10 || j >= s.size() || s[j] != '.') return 0;
  const size_t payload = RunOf(s, j + 1, IsKeyChar);
  if (payload < 2) return 0;
  j += 1 + payload;
  if (j >= s.size() || s[j] != '.') return 0;
  j += 1 + RunOf(s, j + 1, IsKeyChar);
  return j - i;
}

// The API key and token shapes, at a word start.
size_t Key(std::string_view s, size_t i) {
  switch (s[i]) {
    case 's':
      if (size_t n = Prefixed(s, i, "sk-", 16, IsKeyChar)) return n;
      if (size_t n = Prefixed(s, i, "sk_live_", 16, IsWord)) return n;
      return Prefixed(s, i, "sk_test_", 16, IsWord);
    case 'r':
      if (size_t n = Prefixed(s, i, "rk_live_", 16, IsWord)) return n;
      return Prefixed(s, i, "rk_test_", 16, IsWord);
    case 'A':
      if (size_t n = AwsKeyId(s, i)) return n;
      return Prefixed(s, i, "AIza", 30, IsKeyChar);
    case 'x':
      if (s.size() - i > 4 && s.compare(i, 3, "xox") == 0 &&
          std::string_view("abprs").find(s[i + 3]) != std::string_view::npos && s[i + 4] == '-') {
        const size_t body = RunOf(s, i + 5, IsSlackChar);
        return body >= 10 ? 5 + body : 0;
      }
      return 0;
    case 'g':
      for (std::string_view p : {"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}) {
        if (size_t n = Prefixed(s, i, p, 30, IsWord)) return n;
      }
      return Prefixed(s, i, "github_pat_", 30, [](char c) { return IsWord(c) || c == '_'; });
    case 'e':
      return Jwt(s, i);
    default:
      return 0;
  }
}

// A domain after '@': labels of letters, digits and '-', at least two of
// them, the last made of two or more letters. Returns its length or 0.
size_t Domain(std::string_view s, size_t i) {
  size_t n = RunOf(s, i, [](char c) { return IsWord(c) || c == '-' || c == '.'; });
  while (n > 0 && s[i + n - 1] == '.') --n;  // a sentence's full stop
  if (n == 0 || !IsWord(s[i])) return 0;
  std::string_view d = s.substr(i, n);
  const size_t dot = d.rfind('.');
  if (dot == std::string_view::npos) return 0;
  std::string_view tld = d.substr(dot + 1);
  if (tld.size() < 2) return 0;
  for (char c : tld) {
    if (!IsAlpha(c)) return 0;
  }
  return n;
}

// A run of digits grouped by single spaces or dashes, from `i`. Sets
// *digits to the number of digits in it.
size_t DigitRun(std::string_view s, size_t i, size_t* digits) {
  size_t j = i;
  *digits = 0;
  while (j < s.size()) {
    if (IsDigit(s[j])) {
      ++*digits;
      ++j;
    } else if ((s[j] == ' ' || s[j] == '-') && j + 1 < s.size() && IsDigit(s[j + 1])) {
      ++j;
    } else {
      break;
    }
  }
  return j - i;
}

// A card number among the groups of a digit run ("443 4111 1111 1111 1111"
// holds one after the port): whole groups adding up to 13..19 digits that
// pass Luhn. `tail_ok`: the run may end a card (no letter follows it).
// Returns the card's offset and length in `run`.
std::optional<std::pair<size_t, size_t>> CardIn(std::string_view run, bool tail_ok) {
  struct Group {
    size_t begin, end;
  };
  std::vector<Group> groups;
  size_t begin = 0;
  for (size_t k = 0; k <= run.size(); ++k) {
    if (k == run.size() || !IsDigit(run[k])) {
      groups.push_back({begin, k});
      begin = k + 1;
    }
  }
  for (size_t a = 0; a < groups.size(); ++a) {
    size_t digits = 0;
    for (size_t b = a; b < groups.size(); ++b) {
      digits += groups[b].end - groups[b].begin;
      if (digits > 19) break;
      if (digits < 13 || (b + 1 == groups.size() && !tail_ok)) continue;
      std::string_view candidate = run.substr(groups[a].begin, groups[b].end - groups[a].begin);
      if (Masker::LuhnValid(candidate)) return std::make_pair(groups[a].begin, candidate.size());
    }
  }
  return std::nullopt;
}

constexpr std::array<std::string_view, 14> kSensitiveParams = {
    "token",  "key",       "api_key", "apikey",       "password", "passwd",     "pwd",
    "secret", "signature", "sig",     "access_token", "auth",     "credential", "authorization"};

}  // namespace

Masker::Masker(const std::vector<std::string>& extra_patterns) {
  for (const auto& p : extra_patterns) extra_.emplace_back(p, std::regex::ECMAScript);
}

bool Masker::LuhnValid(std::string_view s) {
  int sum = 0;
  bool twice = false;
  size_t count = 0;
  for (size_t k = s.size(); k-- > 0;) {
    if (!IsDigit(s[k])) continue;
    int d = s[k] - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
    ++count;
  }
  return count > 0 && sum % 10 == 0;
}

bool Masker::IsSensitiveParam(std::string_view name) {
  for (std::string_view w : kSensitiveParams) {
    if (name.size() < w.size()) continue;
    const size_t at = name.size() - w.size();
    if (!EqualsIgnoreCase(name.substr(at), w)) continue;
    if (at == 0) return true;
    const char sep = name[at - 1];
    if (sep == '_' || sep == '-' || sep == '.') return true;
  }
  return false;
}

bool Masker::IsSensitiveHeader(std::string_view name) {
  for (std::string_view h : {"authorization", "proxy-authorization", "cookie", "set-cookie",
                             "x-api-key", "api-key", "x-goog-api-key"}) {
    if (EqualsIgnoreCase(name, h)) return true;
  }
  return IsSensitiveParam(name);
}

std::string Masker::Builtin(std::string_view s) const {
  std::string out;
  out.reserve(s.size());
  size_t verbatim_from = 0;  // out ends with s[verbatim_from, i) copied as is
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const bool word_start = i == 0 || !IsWord(s[i - 1]);
    if (word_start && IsAlpha(c)) {
      if (size_t n = Key(s, i)) {
        out += kMasked;
        i += n;
        verbatim_from = i;
        continue;
      }
    }
    if (c == '@' || (c == '%' && s.size() - i >= 3 && s[i + 1] == '4' && s[i + 2] == '0')) {
      const size_t at = c == '@' ? 1 : 3;
      size_t local = i;
      while (local > verbatim_from && IsLocalChar(s[local - 1])) --local;
      const size_t domain = Domain(s, i + at);
      if (local < i && domain > 0) {
        out.resize(out.size() - (i - local));
        out += kMasked;
        i += at + domain;
        verbatim_from = i;
        continue;
      }
    }
    if (word_start && IsDigit(c)) {
      size_t digits = 0;
      const size_t n = DigitRun(s, i, &digits);
      const bool ends_word = i + n == s.size() || !IsWord(s[i + n]);
      if (auto card = CardIn(s.substr(i, n), ends_word)) {
        out.append(s.substr(i, card->first));
        out += kMasked;
        i += card->first + card->second;
        verbatim_from = i;
      } else {
        // Copied whole: a part of a longer number is no card number either.
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

std::string Masker::Text(std::string_view text) const {
  std::string out = Builtin(text);
  for (const auto& re : extra_) out = std::regex_replace(out, re, std::string(kMasked));
  return out;
}

std::string Masker::Target(std::string_view target) const {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return Text(target);
  std::string out(target.substr(0, q + 1));
  std::string_view query = target.substr(q + 1);
  while (true) {
    const size_t end = query.find_first_of("&;");
    std::string_view param = query.substr(0, end);
    const size_t eq = param.find('=');
    if (eq != std::string_view::npos && IsSensitiveParam(param.substr(0, eq))) {
      out.append(param.substr(0, eq + 1));
      out += kMasked;
    } else {
      out.append(param);
    }
    if (end == std::string_view::npos) break;
    out += query[end];
    query.remove_prefix(end + 1);
  }
  return Text(out);
}

std::string Masker::Header(std::string_view name, std::string_view value) const {
  if (IsSensitiveHeader(name)) return std::string(kMasked);
  return Text(value);
}

std::optional<std::vector<std::string>> Masker::LoadPatternFile(const std::string& path,
                                                                std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = path + ": cannot be read";
    return std::nullopt;
  }
  std::vector<std::string> patterns;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    patterns.push_back(line);
  }
  if (auto err = ValidatePatterns(patterns)) {
    *error = path + ": " + *err;
    return std::nullopt;
  }
  return patterns;
}

std::optional<std::string> Masker::ValidatePatterns(const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    try {
      std::regex re(p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return "invalid regular expression '" + p + "': " + e.what();
    }
  }
  return std::nullopt;
}

}  // namespace sightline::logs
