#include "metrics/http_metrics.h"

#include <charconv>

#include "metrics/service_labels.h"
#include "util/time.h"

namespace sightline::metrics {
namespace {

// OpenTelemetry's advised boundaries for http.*.request.duration, in seconds.
const prometheus::Histogram::BucketBoundaries kDurationBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10};
const prometheus::Histogram::BucketBoundaries kSizeBuckets = {
    0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};

// Methods outside the standard set share one value, as OpenTelemetry advises,
// so a client inventing methods cannot mint series.
std::string MethodLabel(const std::string& m) {
  static constexpr std::string_view kKnown[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (auto k : kKnown) {
    if (m == k) return m;
  }
  return "_OTHER";
}

}  // namespace

std::pair<std::string, std::optional<uint16_t>> SplitHostHeader(std::string_view host) {
  std::string_view name = host;
  std::string_view port;
  if (host.starts_with('[')) {
    auto close = host.find(']');
    if (close == std::string_view::npos) return {std::string(host), std::nullopt};
    name = host.substr(1, close - 1);
    if (close + 1 < host.size() && host[close + 1] == ':') port = host.substr(close + 2);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos &&
                                          host.find(':') == colon) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
  }
  std::optional<uint16_t> p;
  uint16_t v = 0;
  if (!port.empty()) {
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec == std::errc() && end == port.data() + port.size() && v != 0) p = v;
  }
  return {std::string(name), p};
}

HttpMetrics::HttpMetrics(prometheus::Registry& registry, process::ProcessTable& processes,
                         const RouteNormalizer& routes, size_t budget,
                         std::function<uint64_t()> now_ns)
    : processes_(processes),
      routes_(routes),
      now_ns_(std::move(now_ns)),
      dropped_(prometheus::BuildCounter()
                   .Name("sightline_series_dropped_total")
                   .Help("Label sets folded into a metric's overflow series because its series "
                         "budget was spent")
                   .Register(registry)),
      server_duration_(prometheus::BuildHistogram()
                           .Name("http_server_request_duration_seconds")
                           .Help("Duration of HTTP server requests, first request byte read to "
                                 "last response byte written")
                           .Register(registry),
                       budget, dropped_, kDurationBuckets),
      server_request_size_(prometheus::BuildHistogram()
                               .Name("http_server_request_body_size_bytes")
                               .Help("Size of HTTP server request bodies (decoded from chunked)")
                               .Register(registry),
                           budget, dropped_, kSizeBuckets),
      server_response_size_(prometheus::BuildHistogram()
                                .Name("http_server_response_body_size_bytes")
                                .Help("Size of HTTP server response bodies (decoded from chunked)")
                                .Register(registry),
                            budget, dropped_, kSizeBuckets),
      client_duration_(prometheus::BuildHistogram()
                           .Name("http_client_request_duration_seconds")
                           .Help("Duration of HTTP client requests, first request byte written "
                                 "to last response byte read")
                           .Register(registry),
                       budget, dropped_, kDurationBuckets),
      client_request_size_(prometheus::BuildHistogram()
                               .Name("http_client_request_body_size_bytes")
                               .Help("Size of HTTP client request bodies (decoded from chunked)")
                               .Register(registry),
                           budget, dropped_, kSizeBuckets),
      client_response_size_(prometheus::BuildHistogram()
                                .Name("http_client_response_body_size_bytes")
                                .Help("Size of HTTP client response bodies (decoded from chunked)")
                                .Register(registry),
                            budget, dropped_, kSizeBuckets),
      unanswered_(prometheus::BuildCounter()
                      .Name("sightline_http_requests_unanswered_total")
                      .Help("HTTP requests that got no complete response: the connection "
                            "closed, reset or lost sync first")
                      .Register(registry),
                  budget, dropped_),
      cache_limit_(4 * budget + 64),
      parse_errors_(prometheus::BuildCounter()
                        .Name("sightline_parse_errors_total")
                        .Help("Protocol bytes that could not be parsed, by protocol and reason")
                        .Register(registry)) {}

void HttpMetrics::OnHttp(const conn::ConnectionInfo& conn, const http1::Transaction& t) {
  const auto& proc = processes_.Lookup(conn.pid, conn.comm, now_ns_());
  if (!t.answered) {
    unanswered_.Get(ServiceLabels(proc, {{"side", t.side == http1::Side::kClient ? "client" : "server"},
                                         {"http_request_method", MethodLabel(t.method)}}))
        .Increment();
    return;
  }
  if (t.side == http1::Side::kClient) {
    RecordClient(proc, conn, t);
  } else {
    RecordServer(proc, t);
  }
}

void HttpMetrics::OnHttpError(const conn::ConnectionInfo&, http1::ErrorKind kind) {
  parse_errors_.Add({{"protocol", "http1"}, {"reason", std::string(http1::ErrorKindName(kind))}})
      .Increment();
}

const HttpMetrics::Series& HttpMetrics::Insert(std::unordered_map<std::string, Series>& cache,
                                               const std::string& key,
                                               const prometheus::Labels& labels,
                                               BudgetedHistogram& duration,
                                               BudgetedHistogram& request_size,
                                               BudgetedHistogram& response_size) {
  // Label sets past the budget map to the overflow series, so the cache only
  // needs a bound of its own against hostile variety.
  if (cache.size() >= cache_limit_) cache.clear();
  Series s{&duration.Get(labels), &request_size.Get(labels), &response_size.Get(labels)};
  return cache.emplace(key, s).first->second;
}

void HttpMetrics::RecordServer(const process::ProcessInfo& proc, const http1::Transaction& t) {
  std::string method = MethodLabel(t.method);
  std::string status = std::to_string(t.status);
  std::string route = routes_.Normalize(t.target);
  std::string key = proc.key + '\x1d' + method + '\x1d' + status + '\x1d' + route;
  const Series* s;
  if (auto it = server_cache_.find(key); it != server_cache_.end()) {
    s = &it->second;
  } else {
    s = &Insert(server_cache_, key,
                ServiceLabels(proc, {{"http_request_method", method},
                                     {"http_response_status_code", status},
                                     {"http_route", route}}),
                server_duration_, server_request_size_, server_response_size_);
  }
  s->duration->Observe(util::SecondsBetween(t.request_start_ns, t.response_end_ns));
  s->request_size->Observe(double(t.request_body_bytes));
  s->response_size->Observe(double(t.response_body_bytes));
}

void HttpMetrics::RecordClient(const process::ProcessInfo& proc, const conn::ConnectionInfo& conn,
                               const http1::Transaction& t) {
  auto [host, port] = SplitHostHeader(t.host);
  if (host.empty()) host = conn.remote.address.empty() ? "unknown" : conn.remote.address;
  std::string method = MethodLabel(t.method);
  std::string status = std::to_string(t.status);
  std::string server_port = std::to_string(port ? *port : conn.remote.port);
  std::string key = proc.key + '\x1d' + method + '\x1d' + status + '\x1d' + host + '\x1d' + server_port;
  const Series* s;
  if (auto it = client_cache_.find(key); it != client_cache_.end()) {
    s = &it->second;
  } else {
    s = &Insert(client_cache_, key,
                ServiceLabels(proc, {{"http_request_method", method},
                                     {"http_response_status_code", status},
                                     {"server_address", host},
                                     {"server_port", server_port}}),
                client_duration_, client_request_size_, client_response_size_);
  }
  s->duration->Observe(util::SecondsBetween(t.request_start_ns, t.response_end_ns));
  s->request_size->Observe(double(t.request_body_bytes));
  s->response_size->Observe(double(t.response_body_bytes));
}

}  // namespace sightline::metrics
