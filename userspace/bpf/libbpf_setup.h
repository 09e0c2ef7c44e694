// Process-wide libbpf setup (its log routed through spdlog, tracefs mounted)
// and what every probe reads back from the kernel the same way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct bpf_map;
struct bpf_object;

namespace sightline::bpf {

struct ProgramStats {
  std::string name;
  uint64_t run_count = 0;
  uint64_t run_time_ns = 0;
  uint64_t recursion_misses = 0;  // runs the kernel skipped: events never seen
};

// Run statistics of every program of a loaded object.
std::vector<ProgramStats> ReadProgramStats(const bpf_object* obj);

// Entries [0, n) of a per-CPU array of u64 counters, each summed over CPUs.
std::vector<uint64_t> SumPerCpuCounters(const bpf_map* map, uint32_t n);

// Sends libbpf's own messages to spdlog (warnings as warnings, debug as debug).
void RouteLibbpfLogToSpdlog();

// Where tracefs is mounted, mounting it at /sys/kernel/tracing when absent.
// Returns an error message when it is neither mounted nor mountable.
std::optional<std::string> EnsureTracefs();

}  // namespace sightline::bpf
