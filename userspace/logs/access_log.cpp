#include "logs/access_log.h"

#include <cmath>
#include <ctime>

#include "metrics/http_metrics.h"
#include "util/text.h"
#include "util/time.h"

namespace sightline::logs {
namespace {

using Json = nlohmann::ordered_json;

using text::Lowered;

double Milliseconds(uint64_t from_ns, uint64_t to_ns) {
  const double ms = to_ns > from_ns ? double(to_ns - from_ns) / 1e6 : 0.0;
  return std::round(ms * 1000) / 1000;  // microsecond resolution is plenty
}

std::string Peer(const decode::Endpoint& e) {
  if (e.address.empty()) return "";
  if (e.address.find(':') != std::string::npos) {
    return "[" + e.address + "]:" + std::to_string(e.port);
  }
  return e.address + ":" + std::to_string(e.port);
}

Level LevelOf(bool answered, int status) {
  if (!answered) return Level::kWarning;
  if (status >= 500) return Level::kError;
  if (status >= 400) return Level::kWarning;
  return Level::kInfo;
}

}  // namespace

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarning:
      return "WARNING";
    case Level::kError:
      return "ERROR";
  }
  return "INFO";
}

std::optional<Level> ParseLevel(std::string_view text) {
  const std::string s = Lowered(text);
  if (s == "debug") return Level::kDebug;
  if (s == "info") return Level::kInfo;
  if (s == "warning" || s == "warn") return Level::kWarning;
  if (s == "error") return Level::kError;
  return std::nullopt;
}

std::optional<Mode> ParseMode(std::string_view text) {
  const std::string s = Lowered(text);
  if (s == "off") return Mode::kOff;
  if (s == "sample") return Mode::kSample;
  if (s == "all") return Mode::kAll;
  return std::nullopt;
}

std::string FormatTimestamp(uint64_t wall_ns) { return util::Rfc3339Millis(wall_ns); }

LogMetrics::LogMetrics(prometheus::Registry& registry)
    : lines_(prometheus::BuildCounter()
                 .Name("sightline_log_lines_total")
                 .Help("Access-log lines handed to the log writer, by kind (http, gen_ai)")
                 .Register(registry)),
      dropped_(prometheus::BuildCounter()
                   .Name("sightline_log_lines_dropped_total")
                   .Help("Access-log lines not written, by reason: rate_limit, queue_full and "
                         "write_error are losses; sampled_out and below_level are filtering")
                   .Register(registry)),
      http_lines_(lines_.Add({{"kind", "http"}})),
      ai_lines_(lines_.Add({{"kind", "gen_ai"}})),
      untracked_(prometheus::BuildCounter()
                     .Name("sightline_log_exchanges_untracked_total")
                     .Help("Exchanges logged without their request's correlation headers: too "
                           "many in flight when the request head was seen (a fresh id is used)")
                     .Register(registry)
                     .Add({})) {
  for (std::string_view reason :
       {"rate_limit", "sampled_out", "below_level", "queue_full", "write_error"}) {
    reasons_.emplace_back(reason, &dropped_.Add({{"reason", std::string(reason)}}));
  }
}

void LogMetrics::Dropped(std::string_view reason, uint64_t n) {
  for (auto& [name, counter] : reasons_) {
    if (name == reason) {
      counter->Increment(double(n));
      return;
    }
  }
  dropped_.Add({{"reason", std::string(reason)}}).Increment(double(n));
}

AccessLog::AccessLog(AccessLogOptions options, Masker masker, conn::TransactionSink& next,
                     const metrics::RouteNormalizer& routes, ServiceOf service_of,
                     ContainerOf container_of, std::shared_ptr<const genai::PricingTable> pricing,
                     LogClocks clocks, Emit emit, LogMetrics& metrics, uint64_t seed)
    : conn::ForwardingSink(next),
      options_(std::move(options)),
      masker_(std::move(masker)),
      routes_(routes),
      service_of_(std::move(service_of)),
      container_of_(std::move(container_of)),
      pricing_(std::move(pricing)),
      clocks_(std::move(clocks)),
      emit_(std::move(emit)),
      metrics_(metrics),
      bucket_(options_.rate_limit, clocks_.mono),
      uuids_(seed) {
  for (auto& h : options_.log_headers) h = Lowered(h);
  for (auto& h : options_.correlation_headers) h = Lowered(h);
}

AccessLog::~AccessLog() = default;

void AccessLog::SetPricing(std::shared_ptr<const genai::PricingTable> pricing) {
  pricing_ = std::move(pricing);
}

bool AccessLog::FollowBody(const conn::ConnectionInfo& conn, uint64_t exchange, http1::Side side,
                           const http1::RequestHead& head) {
  const bool next = conn::ForwardingSink::FollowBody(conn, exchange, side, head);
  if (options_.mode == Mode::kOff) return next;
  if (pending_.size() >= options_.max_in_flight) {
    metrics_.Untracked();
    return next;
  }
  Pending p;
  if (auto c = CorrelationFromHead(head, options_.correlation_headers)) {
    p.correlation = std::move(*c);
    p.correlation.id = masker_.Text(p.correlation.id);  // a client may send anything
  }
  // Kept raw: masked only if a line is written.
  for (const std::string& name : options_.log_headers) {
    if (const http1::Header* h = head.Find(name)) p.headers.emplace_back(name, h->value);
  }
  p.seen_ns = clocks_.mono();
  p.next_follows = next;
  pending_[{conn.conn_id, exchange}] = std::move(p);
  return next;
}

bool AccessLog::Wanted(Level level, const std::string& correlation_id) {
  if (level < options_.min_level) {
    metrics_.Dropped("below_level");
    return false;
  }
  if (options_.mode == Mode::kSample && options_.sample_rate < 1.0) {
    const double u = double(StableHash(correlation_id) >> 11) * 0x1.0p-53;  // [0, 1)
    if (u >= options_.sample_rate) {
      metrics_.Dropped("sampled_out");
      return false;
    }
  }
  return true;
}

bool AccessLog::Admit() {
  if (bucket_.Take()) return true;
  metrics_.Dropped("rate_limit");
  return false;
}

void AccessLog::Write(const Json& line, bool ai) {
  // Bytes that are not UTF-8 (a binary path) become U+FFFD instead of failing the line.
  if (!emit_(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))) {
    metrics_.Dropped("queue_full");
    return;
  }
  metrics_.Written(ai);
}

Json AccessLog::Base(const conn::ConnectionInfo& conn, const http1::Transaction& t,
                     const Pending& p, Level level, std::string_view message) {
  const uint64_t mono = clocks_.mono(), wall = clocks_.wall();
  const uint64_t start = t.request_start_ns ? t.request_start_ns : mono;
  const uint64_t ago = mono > start ? mono - start : 0;
  Json j;
  j["timestamp"] = FormatTimestamp(wall > ago ? wall - ago : wall);
  j["level"] = LevelName(level);
  const process::ProcessInfo& proc = service_of_(conn);
  j["service"] = masker_.Text(proc.service_name);
  j["environment"] = options_.environment;
  j["message"] = message;
  j["correlation_id"] = p.correlation.id;
  j["correlation_source"] = p.correlation.source;
  j["method"] = masker_.Text(t.method);
  const std::string target = masker_.Target(t.target);
  const size_t q = target.find('?');
  j["path"] = target.substr(0, q);
  if (q != std::string::npos) j["query"] = target.substr(q + 1);
  j["route"] = masker_.Text(routes_.Normalize(t.target));
  if (t.status != 0) {
    j["status"] = t.status;
  } else {
    j["status"] = nullptr;
  }
  if (t.answered) j["duration_ms"] = Milliseconds(t.request_start_ns, t.response_end_ns);
  const bool client = t.side == http1::Side::kClient;
  j["direction"] = client ? "client" : "server";
  j["pid"] = conn.pid;
  if (container_of_) {
    if (std::string id = container_of_(conn.pid); !id.empty()) j["container_id"] = id;
  }
  if (proc.pod) {
    j["k8s_namespace_name"] = proc.pod->namespace_name;
    j["k8s_pod_name"] = proc.pod->pod_name;
    if (!proc.pod->container_name.empty()) j["k8s_container_name"] = proc.pod->container_name;
  }
  j["peer"] = masker_.Text(Peer(conn.remote));
  if (client) {
    auto [host, port] = metrics::SplitHostHeader(t.host);
    if (host.empty()) host = conn.remote.address;
    j["server_address"] = masker_.Text(host);
    j["server_port"] = port ? *port : conn.remote.port;
  }
  j["request_bytes"] = t.request_body_bytes;
  j["response_bytes"] = t.response_body_bytes;
  if (!p.headers.empty()) {
    Json headers = Json::object();
    for (const auto& [name, value] : p.headers) headers[name] = masker_.Header(name, value);
    j["headers"] = std::move(headers);
  }
  return j;
}

void AccessLog::OnHttp(const conn::ConnectionInfo& conn, const http1::Transaction& t) {
  if (options_.mode == Mode::kOff) {
    conn::ForwardingSink::OnHttp(conn, t);
    return;
  }
  const Key key{conn.conn_id, t.id};
  auto it = pending_.find(key);
  if (it == pending_.end()) it = pending_.emplace(key, Pending{}).first;
  Pending& p = it->second;
  // A fresh id only where it is used: sampling hashes it, a line carries it.
  const bool sampling = options_.mode == Mode::kSample && options_.sample_rate < 1.0;
  if (p.correlation.id.empty() && sampling) p.correlation = {uuids_.Next(), "generated"};
  const Level level = LevelOf(t.answered, t.status);
  const bool client = t.side == http1::Side::kClient;
  const std::string_view message = !t.answered ? "HTTP request unanswered"
                                   : client    ? "HTTP client request"
                                               : "HTTP request";
  // Admitted before the line is built: past the rate limit a flood costs no JSON.
  const bool wanted = Wanted(level, p.correlation.id) && Admit();
  if (p.correlation.id.empty() && (wanted || p.next_follows)) {
    p.correlation = {uuids_.Next(), "generated"};
  }
  // The AI line, if one follows, starts from the same fields.
  if (wanted || p.next_follows) p.base = Base(conn, t, p, level, message);
  if (wanted) Write(p.base, false);
  // The accountant reports its AI call from inside this call.
  conn::ForwardingSink::OnHttp(conn, t);
  pending_.erase(key);
}

void AccessLog::OnCall(const conn::ConnectionInfo& conn, const genai::Call& call) {
  if (options_.mode == Mode::kOff) return;
  const genai::Detection& d = call.detection;
  const genai::Outcome& o = call.outcome;
  Level level = LevelOf(call.answered, call.status);
  if (level == Level::kInfo && !o.error_type.empty()) level = Level::kError;  // in-stream error

  auto it = pending_.find({conn.conn_id, call.exchange});
  Json j;
  if (it != pending_.end() && !it->second.base.is_null()) {
    j = it->second.base;
  } else {
    // Not seen through this sink (cannot happen in the daemon's chain): the
    // call's own fields only.
    Pending p;
    p.correlation = {uuids_.Next(), "generated"};
    http1::Transaction t;
    t.side = http1::Side::kClient;
    t.status = call.status;
    t.answered = call.answered;
    t.request_start_ns = call.request_start_ns;
    t.response_end_ns = call.response_end_ns;
    j = Base(conn, t, p, level, "");
  }
  if (!Wanted(level, j["correlation_id"].get<std::string>()) || !Admit()) return;
  j["level"] = LevelName(level);
  j["message"] = "AI API call";
  j["gen_ai_provider"] = d.provider;
  j["gen_ai_operation"] = d.operation;
  j["request_model"] = masker_.Text(d.request_model);
  j["response_model"] = masker_.Text(o.response_model);
  j["stream"] = d.stream;
  if (o.usage) {
    const genai::Usage& u = *o.usage;
    j["input_tokens"] = u.input;
    j["output_tokens"] = u.output;
    j["cache_read_tokens"] = u.cache_read;
    j["cache_creation_tokens"] = u.cache_creation;
    j["reasoning_tokens"] = u.reasoning;
    // Unpriced: no cost field at all, never a zero.
    if (auto cost = genai::CallCost(pricing_.get(), call)) j["cost_usd"] = *cost;
  }
  if (d.stream && o.first_chunk_ns) {
    j["ttft_ms"] = Milliseconds(call.request_start_ns, *o.first_chunk_ns);
  }
  if (!o.error_type.empty()) j["error_type"] = masker_.Text(o.error_type);
  Write(j, true);
}

void AccessLog::Sweep(uint64_t now_ns) {
  std::erase_if(pending_, [&](const auto& kv) {
    return now_ns > kv.second.seen_ns && now_ns - kv.second.seen_ns > options_.max_age_ns;
  });
}

}  // namespace sightline::logs
