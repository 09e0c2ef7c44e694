#include "resources/pid_stat.h"

#include <algorithm>
#include <charconv>
#include <cstddef>

namespace sightline::resources {

std::optional<PidStat> ParsePidStat(std::string_view text) {
  // The command name (field 2) may hold spaces and parentheses: the fields
  // that follow start after the last ')'.
  const std::size_t close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  constexpr std::size_t kFirst = 3;  // state, right after ')'
  constexpr std::size_t kLast = 24;  // rss
  std::string_view f[kLast - kFirst + 1];
  std::size_t n = 0;
  while (n <= kLast - kFirst) {
    const std::size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const std::size_t end = std::min(rest.find_first_of(" \n"), rest.size());
    f[n++] = rest.substr(0, end);
    rest.remove_prefix(end);
  }
  if (n <= kLast - kFirst) return std::nullopt;
  bool ok = true;
  auto field = [&](std::size_t i) -> uint64_t {
    const std::string_view s = f[i - kFirst];
    uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) ok = false;
    return v;
  };
  PidStat s{field(14), field(15), field(20), field(22), field(23), field(24)};
  if (!ok) return std::nullopt;
  return s;
}

}  // namespace sightline::resources
