// Time as text, and spans between timestamps.
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace sightline::util {

// RFC 3339 in UTC with milliseconds: "2026-11-24T10:00:00.123Z".
inline std::string Rfc3339Millis(uint64_t unix_ns) {
  const time_t t = static_cast<time_t>(unix_ns / 1'000'000'000ull);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buf + n, sizeof buf - n, ".%03uZ",
                static_cast<unsigned>(unix_ns / 1'000'000ull % 1000));
  return buf;
}

// Seconds from `from_ns` to `to_ns`; 0 when the clock went the other way.
inline double SecondsBetween(uint64_t from_ns, uint64_t to_ns) {
  return to_ns > from_ns ? static_cast<double>(to_ns - from_ns) / 1e9 : 0.0;
}

}  // namespace sightline::util
