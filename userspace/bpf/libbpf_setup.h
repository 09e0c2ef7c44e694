// Process-wide libbpf setup: its log routed through spdlog, tracefs mounted.
#pragma once

#include <optional>
#include <string>

namespace sightline::bpf {

// Sends libbpf's own messages to spdlog (warnings as warnings, debug as debug).
void RouteLibbpfLogToSpdlog();

// Where tracefs is mounted, mounting it at /sys/kernel/tracing when absent.
// Returns an error message when it is neither mounted nor mountable.
std::optional<std::string> EnsureTracefs();

}  // namespace sightline::bpf
