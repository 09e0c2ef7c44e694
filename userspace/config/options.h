// Daemon configuration: one struct, filled from flags, environment variables
// (SIGHTLINE_*) and a TOML config file, in that order of precedence.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sightline::config {

struct Options {
  std::string listen = "0.0.0.0:9464";
  std::string log_level = "info";
  std::string log_format = "auto";  // auto: text on a terminal, JSON otherwise
  std::vector<std::string> probes = {"sockets", "tls", "tcp"};

  // What to observe. Empty means everything.
  std::vector<uint16_t> ports;
  std::vector<uint16_t> exclude_ports;
  std::vector<uint32_t> pids;
  std::string exe_regex;

  // Kernel side.
  uint32_t capture_size = 4096;
  uint32_t tls_capture_size = 65536;
  uint32_t ring_buffer_size = 16u << 20;
  uint32_t max_tracked_fds = 131072;

  // Userspace side.
  uint32_t max_connections = 65536;
  uint32_t idle_timeout_seconds = 300;
  uint32_t max_head_bytes = 65536;
  std::vector<std::string> route_patterns;
  uint32_t series_budget = 2000;
  // Per-service process resources: one series per process (process_pid label).
  bool process_metrics_pid = false;

  // AI API accounting: a price table laid over the embedded one ("" = embedded only).
  std::string pricing_file;
  std::vector<std::string> openai_compatible_hosts;  // host or host:port serving OpenAI's API

  // Business KPIs from traffic: a YAML rules file ("" = none).
  std::string business_rules;

  // JSON access logs: one line per HTTP exchange and AI call.
  std::string access_log = "all";  // off, sample, all
  double access_log_sample_rate = 1.0;
  std::string access_log_level = "info";  // lowest level written (LOG_LEVEL)
  std::string log_file;                   // "" = stdout (LOG_FILE)
  uint32_t log_retention_days = 30;       // rotated files kept (LOG_RETENTION_DAYS)
  std::string environment = "production";  // the lines' environment field (ENVIRONMENT)
  double log_rate_limit = 1000;            // lines per second, 0 = unlimited
  std::vector<std::string> correlation_headers = {"traceparent", "x-request-id",
                                                  "x-correlation-id"};
  std::vector<std::string> log_headers = {"user-agent"};
  std::vector<std::string> mask_patterns;  // extra regexes whose matches are masked
  std::string mask_file;                   // one more regex per line

  // Threshold alerts: a YAML rules file laid over the built-in rules ("" = built-ins only).
  std::string alert_rules;

  // Where the host's /proc is mounted: other processes are read there (a
  // DaemonSet mounts the host's at /host/proc).
  std::string proc_root = "/proc";
  // Kubernetes workload metadata: auto (when in a cluster) or off. Flags left
  // empty come from the in-cluster configuration and NODE_NAME.
  std::string k8s_metadata = "auto";
  std::string k8s_api_url;
  std::string k8s_token_file;
  std::string k8s_ca_file;
  std::string k8s_node_name;
  uint32_t k8s_resync_seconds = 15;
  bool k8s_pod_label = false;
};

enum class Command { kRun, kCheck, kPricing, kAlertTest, kVersion, kExit };

// `sightline pricing <model>`: what a call with these tokens costs. `input` counts every
// prompt token, cached ones included.
struct PricingQuery {
  std::string model;
  std::string provider;
  uint64_t input = 0, cache_read = 0, cache_creation = 0, output = 0;
};

struct ParseResult {
  Command command = Command::kRun;
  Options options;
  PricingQuery pricing;  // for kPricing
  int exit_code = 0;  // for kExit: what main returns (help printed, or an error)
};

// Parses argv. On --help or an invalid value, prints to stdout/stderr and
// returns kExit with the exit code; invalid values name the flag.
ParseResult Parse(int argc, const char* const* argv);

// Semantic checks beyond what the parser knows; returns the first error, naming the flag.
std::optional<std::string> Validate(const Options& o);

}  // namespace sightline::config
