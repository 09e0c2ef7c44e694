#include "genai/accountant.h"

#include <algorithm>

#include "genai/decode.h"
#include "genai/sse.h"
#include "util/text.h"

namespace sightline::genai {
namespace {

Headers Lowered(const std::vector<http1::Header>& in) {
  Headers out;
  out.reserve(in.size());
  for (const auto& h : in) {
    std::string name = h.name;
    std::transform(name.begin(), name.end(), name.begin(), text::ToLower);
    out.emplace_back(std::move(name), h.value);
  }
  return out;
}

std::string_view HeaderValue(const Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return {};
}

bool IsEventStream(std::string_view content_type) {
  constexpr std::string_view kSse = "text/event-stream";
  return text::EqualsIgnoreCase(content_type.substr(0, kSse.size()), kSse);
}

}  // namespace

struct Accountant::Exchange {
  Detection detection;
  std::string method, target, host;
  Headers request_headers;
  std::string request_body;
  bool request_complete = true;
  int status = 0;
  std::unique_ptr<ResponseReader> reader;
  std::unique_ptr<Decoder> decoder;  // null: the body is not content-coded
  bool decode_failed = false;
  bool gap = false;
  std::unique_ptr<SseParser> sse;  // null: a JSON body
  std::string json;
  std::vector<std::pair<std::string, double>> rate_limits;
  std::string decoded;  // scratch

  RequestView View() const {
    return RequestView{method, target, host, &request_headers, request_body, request_complete};
  }
};

Accountant::Accountant(AccountantOptions options, conn::TransactionSink& http, CallSink& calls)
    : options_(std::move(options)), http_(http), calls_(calls) {}

Accountant::~Accountant() = default;

bool Accountant::FollowBody(const conn::ConnectionInfo& conn, uint64_t exchange, http1::Side side,
                            const http1::RequestHead& head) {
  // The observed process makes the call: only the client side is accounted.
  if (side != http1::Side::kClient) return false;
  auto x = std::make_unique<Exchange>();
  x->method = head.method;
  x->target = head.target;
  x->host = head.host;
  x->request_headers = Lowered(head.headers);
  x->request_complete = false;
  auto detection = Detect(x->View(), options_.detect);
  if (!detection) return false;
  if (exchanges_.size() >= options_.max_exchanges) {
    stats_.shed++;
    return false;
  }
  x->detection = std::move(*detection);
  stats_.followed++;
  exchanges_[{conn.conn_id, exchange}] = std::move(x);
  return true;
}

void Accountant::OnResponseHead(const conn::ConnectionInfo& conn, uint64_t exchange,
                                const http1::ResponseHead& head, uint64_t) {
  auto it = exchanges_.find({conn.conn_id, exchange});
  if (it == exchanges_.end()) return;
  Exchange& x = *it->second;
  // The request body is in: the model and the stream flag are known now.
  x.request_complete = true;
  if (auto d = Detect(x.View(), options_.detect)) x.detection = std::move(*d);
  x.request_body.clear();
  x.request_body.shrink_to_fit();
  x.status = head.status;
  Headers headers = Lowered(head.headers);
  x.rate_limits = RateLimitRemaining(headers);
  const Encoding encoding = ParseContentEncoding(HeaderValue(headers, "content-encoding"));
  if (encoding == Encoding::kUnsupported) {
    x.decode_failed = true;
    stats_.decode_errors++;
  } else if (encoding != Encoding::kIdentity) {
    x.decoder = Decoder::Make(encoding, options_.max_response_body);
  }
  if (IsEventStream(HeaderValue(headers, "content-type"))) {
    x.sse = std::make_unique<SseParser>(options_.max_sse_event);
  }
  x.reader = std::make_unique<ResponseReader>(x.detection, x.status, headers);
}

void Accountant::OnBody(const conn::ConnectionInfo& conn, uint64_t exchange, bool request,
                        std::string_view bytes, uint64_t ts_ns) {
  auto it = exchanges_.find({conn.conn_id, exchange});
  if (it == exchanges_.end()) return;
  Exchange& x = *it->second;
  if (request) {
    size_t room =
        options_.max_request_body - std::min(options_.max_request_body, x.request_body.size());
    if (bytes.size() > room) stats_.truncated_bytes += bytes.size() - room;
    x.request_body.append(bytes.substr(0, room));
    return;
  }
  if (!x.reader || x.decode_failed) return;
  std::string_view plain = bytes;
  if (x.decoder) {
    x.decoded.clear();
    if (!x.decoder->Feed(bytes, &x.decoded)) {
      x.decode_failed = true;
      stats_.decode_errors++;
    }
    plain = x.decoded;
  }
  if (x.sse) {
    x.sse->Feed(plain, [&](std::string_view event, std::string_view data) {
      x.reader->OnEvent(event, data, ts_ns);
    });
    return;
  }
  size_t room = options_.max_response_body - std::min(options_.max_response_body, x.json.size());
  if (plain.size() > room) stats_.truncated_bytes += plain.size() - room;
  x.json.append(plain.substr(0, room));
}

void Accountant::OnBodyGap(const conn::ConnectionInfo& conn, uint64_t exchange, bool request,
                           uint64_t) {
  auto it = exchanges_.find({conn.conn_id, exchange});
  if (it == exchanges_.end()) return;
  Exchange& x = *it->second;
  if (!x.gap) stats_.body_gaps++;
  x.gap = true;
  // A compressed stream cannot be resumed past missing bytes.
  if (!request && x.decoder) x.decode_failed = true;
}

void Accountant::OnHttp(const conn::ConnectionInfo& conn, const http1::Transaction& t) {
  auto it = exchanges_.find({conn.conn_id, t.id});
  if (it != exchanges_.end()) {
    Exchange& x = *it->second;
    Call call;
    if (x.reader) {
      if (x.decoder && !x.decode_failed) {
        x.decoded.clear();
        if (!x.decoder->Finish(&x.decoded) && t.answered) stats_.decode_errors++;
        if (x.sse) {
          x.sse->Feed(x.decoded, [&](std::string_view event, std::string_view data) {
            x.reader->OnEvent(event, data, t.response_end_ns);
          });
        } else {
          x.json.append(x.decoded);
        }
      }
      if (x.sse) {
        x.sse->Finish([&](std::string_view event, std::string_view data) {
          x.reader->OnEvent(event, data, t.response_end_ns);
        });
      } else if (!x.json.empty() && !x.decode_failed) {
        x.reader->OnBody(x.json);
      }
      call.outcome = x.reader->Finish();
    } else {
      call.outcome.error_type = "no_response";
    }
    if (!t.answered && call.outcome.error_type.empty()) call.outcome.error_type = "incomplete";
    call.detection = std::move(x.detection);
    call.exchange = t.id;
    call.status = t.status;
    call.answered = t.answered;
    call.request_start_ns = t.request_start_ns;
    call.response_end_ns = t.response_end_ns;
    call.rate_limits = std::move(x.rate_limits);
    exchanges_.erase(it);
    calls_.OnCall(conn, call);
  }
  http_.OnHttp(conn, t);
}

void Accountant::OnHttpError(const conn::ConnectionInfo& conn, http1::ErrorKind kind) {
  http_.OnHttpError(conn, kind);
}

std::optional<double> CallCost(const PricingTable* pricing, const Call& call) {
  const auto& o = call.outcome;
  if (!o.usage || !pricing) return std::nullopt;
  const PriceEntry* entry =
      pricing->Lookup(call.detection.provider, o.response_model, call.detection.request_model);
  if (!entry) return std::nullopt;
  const Usage& u = *o.usage;
  return Cost(*entry, TokenCounts{u.input, u.cache_read, u.cache_creation, u.output, u.reasoning});
}

}  // namespace sightline::genai
