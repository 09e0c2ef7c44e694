// The fields of /proc/<pid>/stat the resource collectors read.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sightline::resources {

struct PidStat {
  uint64_t utime = 0, stime = 0;  // clock ticks
  uint64_t threads = 0;
  uint64_t start = 0;  // clock ticks after boot: tells a reused pid apart
  uint64_t vsize = 0;  // bytes
  uint64_t rss = 0;    // pages
};

// nullopt when the text is not a stat line (too few fields, a field that is
// not a number).
std::optional<PidStat> ParsePidStat(std::string_view text);

}  // namespace sightline::resources
