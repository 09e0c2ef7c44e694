#include "config/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <regex>
#include <unistd.h>

#include "alerts/rules.h"
#include "business/rules.h"
#include "genai/pricing.h"
#include "logs/access_log.h"
#include "logs/mask.h"
#include "metrics/endpoint.h"
#include "metrics/route.h"
#include "sightline/bpf/tls.h"

namespace sightline::config {
namespace {

constexpr const char* kExamples = R"(Examples:
  sightline                                   observe every process, serve :9464/metrics
  sightline check                             what does this kernel offer?
  sightline pricing gpt-4o --input 1000 --output 200
  sightline --ports 80,8080 --route-pattern '/api/campaigns/{id}'
  sightline --exclude-ports 22 --exe '^/usr/(s)?bin/nginx$' --log-format json
  sightline --business-rules /etc/sightline/business-rules.yaml
  sightline --alert-rules /etc/sightline/alert-rules.yaml
  SLACK_WEBHOOK_URL=https://hooks.slack.com/services/... sightline alert test
  LOG_FILE=/var/log/sightline/access.log ENVIRONMENT=staging sightline --log-header user-agent
  SIGHTLINE_LISTEN=127.0.0.1:9464 sightline --config /etc/sightline/sightline.toml

Every flag has an environment variable (shown as SIGHTLINE_*) and a config-file
key with the flag's long name, e.g. in sightline.toml:
  listen = "127.0.0.1:9464"
  ports = [80, 8080]
  route-pattern = ["/api/campaigns/{id}", "/users/{id}/orders"]
)";

bool IsPowerOfTwo(uint32_t v) { return v && (v & (v - 1)) == 0; }

}  // namespace

std::optional<std::string> Validate(const Options& o) {
  if (auto err = metrics::ValidateListenAddress(o.listen)) return "--listen: " + *err;
  if (o.capture_size == 0 || o.capture_size > 16384) {
    return "--capture-size: must be between 1 and 16384 bytes, got " + std::to_string(o.capture_size);
  }
  if (o.tls_capture_size == 0 || o.tls_capture_size > SL_MAX_TLS_CAPTURE) {
    return "--tls-capture-size: must be between 1 and " + std::to_string(SL_MAX_TLS_CAPTURE) +
           " bytes, got " + std::to_string(o.tls_capture_size);
  }
  auto has = [&](const char* p) { return std::find(o.probes.begin(), o.probes.end(), p) != o.probes.end(); };
  if (!has("sockets")) return "--probes: sockets is required (tls rides on its connections)";
  if (!IsPowerOfTwo(o.ring_buffer_size) || o.ring_buffer_size < (64u << 10) ||
      o.ring_buffer_size > (1u << 30)) {
    return "--ring-buffer-size: must be a power of two between 65536 and 1073741824, got " +
           std::to_string(o.ring_buffer_size);
  }
  if (o.max_tracked_fds < 1024) return "--max-tracked-fds: must be at least 1024";
  if (o.max_connections < 16) return "--max-connections: must be at least 16";
  if (o.idle_timeout_seconds == 0) return "--idle-timeout: must be at least 1 second";
  if (o.max_head_bytes < 1024) return "--max-head-bytes: must be at least 1024";
  if (o.series_budget == 0) return "--series-budget: must be at least 1";
  for (const auto& p : o.route_patterns) {
    if (auto err = metrics::RouteNormalizer::ValidatePattern(p)) {
      return "--route-pattern '" + p + "': " + *err;
    }
  }
  for (auto port : o.ports) {
    if (port == 0) return "--ports: port 0 is not a port";
  }
  for (auto port : o.exclude_ports) {
    if (port == 0) return "--exclude-ports: port 0 is not a port";
  }
  if (!o.exe_regex.empty()) {
    try {
      std::regex re(o.exe_regex, std::regex::extended);
    } catch (const std::regex_error& e) {
      return "--exe: invalid regular expression '" + o.exe_regex + "': " + e.what();
    }
  }
  for (const auto& h : o.openai_compatible_hosts) {
    if (h.empty() || h.find_first_of(" /\t") != std::string::npos) {
      return "--openai-compatible-host: '" + h + "' is not a host or host:port";
    }
  }
  if (!o.pricing_file.empty()) {
    std::string error;
    if (!genai::PricingTable::WithOverrides(o.pricing_file, &error)) {
      return "--pricing-file: " + error;
    }
  }
  if (!o.business_rules.empty()) {
    std::string error;
    if (!business::LoadRules(o.business_rules, &error)) return "--business-rules: " + error;
  }
  if (!o.alert_rules.empty()) {
    std::string error;
    if (!alerts::LoadRules(o.alert_rules, &error)) return "--alert-rules: " + error;
  }
  if (!(o.access_log_sample_rate >= 0 && o.access_log_sample_rate <= 1)) {
    return "--access-log-sample-rate: must be between 0 and 1";
  }
  if (!logs::ParseLevel(o.access_log_level)) {
    return "--access-log-level (LOG_LEVEL): must be debug, info, warning or error, got '" +
           o.access_log_level + "'";
  }
  if (!(o.log_rate_limit >= 0)) return "--log-rate-limit: must be 0 (unlimited) or more";
  for (const auto& h : o.correlation_headers) {
    if (h.empty() || h.find_first_of(" :\t") != std::string::npos) {
      return "--correlation-headers: '" + h + "' is not a header name";
    }
  }
  if (auto err = logs::Masker::ValidatePatterns(o.mask_patterns)) return "--mask-pattern: " + *err;
  if (!o.mask_file.empty()) {
    std::string error;
    if (!logs::Masker::LoadPatternFile(o.mask_file, &error)) return "--mask-file: " + error;
  }
  if (o.proc_root.empty() || access((o.proc_root + "/self/stat").c_str(), R_OK) != 0) {
    return "--proc-root: '" + o.proc_root + "' is not a mounted procfs (no self/stat there)";
  }
  if (o.k8s_metadata != "auto" && o.k8s_metadata != "off") {
    return "--k8s-metadata: must be auto or off";
  }
  if (!o.k8s_api_url.empty() && !o.k8s_api_url.starts_with("https://") &&
      !o.k8s_api_url.starts_with("http://")) {
    return "--k8s-api-url: must start with https:// (or http://), got '" + o.k8s_api_url + "'";
  }
  if (o.k8s_resync_seconds == 0) return "--k8s-resync-seconds: must be at least 1";
  return std::nullopt;
}

ParseResult Parse(int argc, const char* const* argv) {
  ParseResult r;
  Options& o = r.options;
  CLI::App app{"sightline: an eBPF host observer. Sees HTTP traffic of every process on the "
               "node without code changes and serves it as Prometheus metrics."};
  app.footer(kExamples);
  app.set_config("--config", "", "TOML config file (keys are the long flag names)")
      ->envname("SIGHTLINE_CONFIG");
  bool version = false;
  app.add_flag("--version", version, "Print the version and exit");

  app.add_option("--listen", o.listen, "Address of /metrics and /healthz")
      ->envname("SIGHTLINE_LISTEN")->capture_default_str();
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error")
      ->envname("SIGHTLINE_LOG_LEVEL")->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--log-format", o.log_format, "text, json, or auto (text on a terminal)")
      ->envname("SIGHTLINE_LOG_FORMAT")->capture_default_str()
      ->check(CLI::IsMember({"auto", "text", "json"}));
  app.add_option("--probes", o.probes, "Probes to load (sockets, tls, tcp; tls and tcp need sockets)")
      ->envname("SIGHTLINE_PROBES")->delimiter(',')->capture_default_str()
      ->check(CLI::IsMember({"sockets", "tls", "tcp"}));

  app.add_option("--ports", o.ports, "Observe only connections with one of these ports (either end)")
      ->envname("SIGHTLINE_PORTS")->delimiter(',');
  app.add_option("--exclude-ports", o.exclude_ports, "Never observe connections with these ports")
      ->envname("SIGHTLINE_EXCLUDE_PORTS")->delimiter(',');
  app.add_option("--pids", o.pids, "Observe only these process ids")
      ->envname("SIGHTLINE_PIDS")->delimiter(',');
  app.add_option("--exe", o.exe_regex, "Observe only processes whose executable path matches this "
                 "extended regular expression")->envname("SIGHTLINE_EXE");

  app.add_option("--capture-size", o.capture_size, "Payload bytes captured per syscall (max 16384)")
      ->envname("SIGHTLINE_CAPTURE_SIZE")->capture_default_str();
  app.add_option("--tls-capture-size", o.tls_capture_size, "TLS plaintext bytes captured per "
                 "read or write call (max 262144)")
      ->envname("SIGHTLINE_TLS_CAPTURE_SIZE")->capture_default_str();
  app.add_option("--ring-buffer-size", o.ring_buffer_size, "Kernel ring buffer bytes (power of two)")
      ->envname("SIGHTLINE_RING_BUFFER_SIZE")->capture_default_str();
  app.add_option("--max-tracked-fds", o.max_tracked_fds, "Kernel map entries for file descriptors")
      ->envname("SIGHTLINE_MAX_TRACKED_FDS")->capture_default_str();
  app.add_option("--max-connections", o.max_connections, "Connections tracked in userspace")
      ->envname("SIGHTLINE_MAX_CONNECTIONS")->capture_default_str();
  app.add_option("--idle-timeout", o.idle_timeout_seconds, "Seconds before a silent connection is dropped")
      ->envname("SIGHTLINE_IDLE_TIMEOUT")->capture_default_str();
  app.add_option("--max-head-bytes", o.max_head_bytes, "Largest HTTP head parsed")
      ->envname("SIGHTLINE_MAX_HEAD_BYTES")->capture_default_str();
  app.add_option("--route-pattern", o.route_patterns, "Route template, e.g. /api/campaigns/{id} "
                 "(repeatable)")->envname("SIGHTLINE_ROUTE_PATTERNS")->delimiter(',');
  app.add_option("--series-budget", o.series_budget, "Series per metric before new label sets "
                 "fold into an overflow series")->envname("SIGHTLINE_SERIES_BUDGET")->capture_default_str();
  app.add_flag("--process-metrics-pid", o.process_metrics_pid, "Give per-service process "
               "metrics a process_pid label, one series per process. Cardinality warning: every "
               "restart or worker makes new series; leave off unless you need it")
      ->envname("SIGHTLINE_PROCESS_METRICS_PID");
  app.add_option("--pricing-file", o.pricing_file, "AI API price table laid over the embedded "
                 "one: sightline's JSON format or LiteLLM's model_prices_and_context_window.json")
      ->envname("SIGHTLINE_PRICING_FILE");
  app.add_option("--openai-compatible-host", o.openai_compatible_hosts,
                 "Host (or host:port) serving an OpenAI-compatible API, e.g. a local vLLM or "
                 "Ollama: its calls are accounted as AI calls (repeatable)")
      ->envname("SIGHTLINE_OPENAI_COMPATIBLE_HOSTS")->delimiter(',');
  app.add_option("--business-rules", o.business_rules, "YAML rules turning matching HTTP "
                 "exchanges into business counters and gauges (reloaded on SIGHUP)")
      ->envname("SIGHTLINE_BUSINESS_RULES");
  app.add_option("--alert-rules", o.alert_rules, "YAML threshold alert rules laid over the "
                 "built-in ones; channels come from SMTP_*, SLACK_*, PAGERDUTY_*, "
                 "ALERTMANAGER_URL and ALERT_WEBHOOK_URL (see README)")
      ->envname("SIGHTLINE_ALERT_RULES");

  app.add_option("--access-log", o.access_log, "JSON access log: one line per HTTP exchange "
                 "and AI call (all), a share of correlation ids (sample), or none (off)")
      ->envname("SIGHTLINE_ACCESS_LOG")->capture_default_str()
      ->check(CLI::IsMember({"off", "sample", "all"}));
  app.add_option("--access-log-sample-rate", o.access_log_sample_rate, "With --access-log "
                 "sample: share of correlation ids logged (0..1); both sides of a call go together")
      ->envname("SIGHTLINE_ACCESS_LOG_SAMPLE_RATE")->capture_default_str();
  auto* access_level = app.add_option("--access-log-level", o.access_log_level,
                                      "Lowest level of access lines written: debug, info, "
                                      "warning (4xx, unanswered), error (5xx); env LOG_LEVEL too")
      ->envname("SIGHTLINE_ACCESS_LOG_LEVEL")->capture_default_str();
  auto* log_file = app.add_option("--log-file", o.log_file, "Write access lines to this file "
                                  "instead of stdout, rotated daily to FILE.YYYY-MM-DD; env "
                                  "LOG_FILE too")->envname("SIGHTLINE_LOG_FILE");
  auto* retention = app.add_option("--log-retention-days", o.log_retention_days, "Rotated "
                                   "access-log files older than this are deleted (0 = keep all); "
                                   "env LOG_RETENTION_DAYS too")
      ->envname("SIGHTLINE_LOG_RETENTION_DAYS")->capture_default_str();
  auto* environment = app.add_option("--environment", o.environment, "The access lines' "
                                     "environment field; env ENVIRONMENT too")
      ->envname("SIGHTLINE_ENVIRONMENT")->capture_default_str();
  app.add_option("--log-rate-limit", o.log_rate_limit, "Access lines per second at most (token "
                 "bucket, one second of burst; 0 = unlimited); the rest are counted as dropped")
      ->envname("SIGHTLINE_LOG_RATE_LIMIT")->capture_default_str();
  app.add_option("--correlation-headers", o.correlation_headers, "Request headers holding the "
                 "correlation id, first found wins (traceparent gives its trace id)")
      ->envname("SIGHTLINE_CORRELATION_HEADERS")->delimiter(',')->capture_default_str();
  app.add_option("--log-header", o.log_headers, "Request headers written in access lines "
                 "(repeatable; credentials among them are always masked)")
      ->envname("SIGHTLINE_LOG_HEADERS")->delimiter(',')->capture_default_str();
  app.add_option("--mask-pattern", o.mask_patterns, "Extra regular expression (ECMAScript) whose "
                 "matches are masked in access lines (repeatable)")
      ->envname("SIGHTLINE_MASK_PATTERNS");
  app.add_option("--mask-file", o.mask_file, "File of extra mask regular expressions, one a line")
      ->envname("SIGHTLINE_MASK_FILE");

  app.add_option("--proc-root", o.proc_root, "Where the host's /proc is mounted; other "
                 "processes are read there (a DaemonSet mounts it at /host/proc)")
      ->envname("SIGHTLINE_PROC_ROOT")->capture_default_str();
  app.add_option("--k8s-metadata", o.k8s_metadata, "Name processes after their Kubernetes "
                 "workload: auto (when KUBERNETES_SERVICE_HOST or --k8s-api-url is set) or off")
      ->envname("SIGHTLINE_K8S_METADATA")->capture_default_str();
  app.add_option("--k8s-api-url", o.k8s_api_url, "Kubernetes API server (default: "
                 "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)")
      ->envname("SIGHTLINE_K8S_API_URL");
  app.add_option("--k8s-token-file", o.k8s_token_file, "Bearer token file (default: the pod's "
                 "service account token)")->envname("SIGHTLINE_K8S_TOKEN_FILE");
  app.add_option("--k8s-ca-file", o.k8s_ca_file, "CA certificate of the API server (default: "
                 "the service account's ca.crt)")->envname("SIGHTLINE_K8S_CA_FILE");
  app.add_option("--k8s-node-name", o.k8s_node_name, "Node whose pods are listed (default: "
                 "NODE_NAME)")->envname("SIGHTLINE_K8S_NODE_NAME");
  app.add_option("--k8s-resync-seconds", o.k8s_resync_seconds, "Seconds between two lists of "
                 "this node's pods")->envname("SIGHTLINE_K8S_RESYNC_SECONDS")->capture_default_str();
  app.add_flag("--k8s-pod-label", o.k8s_pod_label, "Give per-service series a k8s_pod_name "
               "label too (one series per pod: mind the cardinality)")
      ->envname("SIGHTLINE_K8S_POD_LABEL");

  app.add_subcommand("check", "Report what the kernel offers and exit non-zero if the daemon cannot run");
  PricingQuery& q = r.pricing;
  CLI::App* pricing = app.add_subcommand(
      "pricing", "Print what an AI API call costs (USD) and the price-table entry that priced it; "
                 "exit 1 for a model without a price");
  pricing->add_option("model", q.model, "Model name as sent or answered, e.g. gpt-4o-2024-08-06")
      ->required();
  pricing->add_option("--provider", q.provider, "openai, azure.ai.openai, anthropic, gcp.gemini, "
                      "gcp.vertex_ai, ... (default: any)");
  pricing->add_option("--input", q.input, "Input tokens, cached ones included")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  pricing->add_option("--cache-read", q.cache_read, "Of the input, tokens read from the cache")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  pricing->add_option("--cache-creation", q.cache_creation, "Of the input, tokens written to the "
                      "cache")->capture_default_str()->check(CLI::NonNegativeNumber);
  pricing->add_option("--output", q.output, "Output tokens, reasoning included")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  pricing->fallthrough();  // --pricing-file may follow the model
  CLI::App* alert = app.add_subcommand("alert", "Alert channel tools");
  CLI::App* alert_test = alert->add_subcommand(
      "test", "Send a test alert through every configured channel; exit 1 if any failed");
  alert->require_subcommand(1);
  app.require_subcommand(0, 1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    r.command = Command::kExit;
    // --help exits 0; every parse error exits 2, like an invalid value.
    r.exit_code = app.exit(e) == 0 ? 0 : 2;
    return r;
  }
  if (version) {
    r.command = Command::kVersion;
    return r;
  }
  // The brief's unprefixed variables, when neither a flag, SIGHTLINE_* nor the config file set them.
  auto fallback = [](CLI::Option* opt, const char* env, std::string* out) {
    const char* v = std::getenv(env);
    if (opt->count() == 0 && v != nullptr && *v != '\0') *out = v;
  };
  fallback(log_file, "LOG_FILE", &o.log_file);
  fallback(access_level, "LOG_LEVEL", &o.access_log_level);
  fallback(environment, "ENVIRONMENT", &o.environment);
  std::string retention_text;
  fallback(retention, "LOG_RETENTION_DAYS", &retention_text);
  if (!retention_text.empty()) {
    uint32_t days = 0;
    auto [end, ec] = std::from_chars(retention_text.data(),
                                     retention_text.data() + retention_text.size(), days);
    if (ec != std::errc() || end != retention_text.data() + retention_text.size()) {
      std::fprintf(stderr, "sightline: invalid configuration: LOG_RETENTION_DAYS: not a number "
                   "of days: '%s'\n", retention_text.c_str());
      r.command = Command::kExit;
      r.exit_code = 2;
      return r;
    }
    o.log_retention_days = days;
  }
  if (auto err = Validate(o)) {
    std::fprintf(stderr, "sightline: invalid configuration: %s\n", err->c_str());
    r.command = Command::kExit;
    r.exit_code = 2;
    return r;
  }
  if (pricing->parsed() &&
      (q.cache_read > q.input || q.cache_creation > q.input - q.cache_read)) {
    std::fprintf(stderr, "sightline: invalid configuration: --cache-read + --cache-creation: must "
                 "not exceed --input, which counts every prompt token, cached ones included\n");
    r.command = Command::kExit;
    r.exit_code = 2;
    return r;
  }
  if (app.got_subcommand("check")) {
    r.command = Command::kCheck;
  } else if (pricing->parsed()) {
    r.command = Command::kPricing;
  } else if (alert_test->parsed()) {
    r.command = Command::kAlertTest;
  } else {
    r.command = Command::kRun;
  }
  return r;
}

}  // namespace sightline::config
