#include "business/rules_sink.h"

#include <regex>

#include "business/body.h"

namespace sightline::business {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;  // lowercased name, value

bool SideMatches(SideMatch want, http1::Side side) {
  switch (want) {
    case SideMatch::kServer:
      return side == http1::Side::kServer;
    case SideMatch::kClient:
      return side == http1::Side::kClient;
    case SideMatch::kAny:
      return true;
  }
  return false;
}

std::string_view HeaderOf(const http1::MessageHead& head, std::string_view name) {
  const http1::Header* h = head.Find(name);
  return h ? std::string_view(h->value) : std::string_view();
}

std::optional<uint64_t> ExpectedLength(const http1::BodyFraming& framing) {
  if (framing.kind == http1::BodyKind::kContentLength) return framing.length;
  return std::nullopt;
}

// Copies the headers that `rules` read from `s` out of a head that is gone
// once the call returns.
void KeepHeaders(const std::vector<Rule>& rules, uint64_t mask, Source s,
                 const http1::MessageHead& head, Headers* out) {
  auto keep = [&](const Extractor& e) {
    if (e.source != s) return;
    if (const http1::Header* h = head.Find(e.key)) out->emplace_back(e.key, h->value);
  };
  for (size_t i = 0; i < rules.size(); ++i) {
    if (!(mask >> i & 1)) continue;
    for (const LabelRule& l : rules[i].labels) keep(l.from);
    if (rules[i].value) keep(*rules[i].value);
  }
}

}  // namespace

struct RulesSink::Exchange {
  uint64_t mask = 0;          // rules that may still match; 0: only forwarding is left
  bool next_follows = false;  // the next sink asked for this exchange's bodies
  BodyCapture request;
  BodyCapture response;
  Headers request_headers;
  Headers response_headers;
};

RulesSink::RulesSink(Engine& engine, conn::TransactionSink& next, ServiceOf service_of)
    : engine_(engine), next_(next), service_of_(std::move(service_of)) {
  Compile();
}

RulesSink::~RulesSink() = default;

void RulesSink::Compile() {
  routes_.clear();
  for (const Rule& r : engine_.rules().rules) routes_.emplace_back(r.route);
}

void RulesSink::Reload(RuleSet rules) {
  for (auto& [key, x] : exchanges_) {
    if (x->mask == 0) continue;
    engine_.CountExchange(Outcome::kReloaded);
    x->mask = 0;
    x->request.Drop();
    x->response.Drop();
  }
  engine_.Install(std::move(rules));
  Compile();
}

uint64_t RulesSink::Candidates(http1::Side side, const http1::RequestHead& head) const {
  const auto& rules = engine_.rules().rules;
  uint64_t mask = 0;
  for (size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if (SideMatches(r.side, side) && r.MethodMatches(head.method) &&
        routes_[i].Matches(head.target)) {
      mask |= uint64_t(1) << i;
    }
  }
  return mask;
}

uint64_t RulesSink::UsingSource(uint64_t mask, Source s) const {
  const auto& rules = engine_.rules().rules;
  uint64_t using_it = 0;
  for (size_t i = 0; i < rules.size(); ++i) {
    if ((mask >> i & 1) && rules[i].Uses(s)) using_it |= uint64_t(1) << i;
  }
  return using_it;
}

bool RulesSink::FollowBody(const conn::ConnectionInfo& conn, uint64_t exchange, http1::Side side,
                           const http1::RequestHead& head) {
  const bool next = next_.FollowBody(conn, exchange, side, head);
  uint64_t mask = Candidates(side, head);
  if (mask == 0) return next;
  const RuleSet& set = engine_.rules();
  const std::string* service = nullptr;  // looked up once, when a candidate names a service
  for (size_t i = 0; i < set.rules.size(); ++i) {
    const Rule& r = set.rules[i];
    if (!(mask >> i & 1) || !r.service) continue;
    if (!service) service = &service_of_(conn).service_name;
    if (!std::regex_match(*service, *r.service)) mask &= ~(uint64_t(1) << i);
  }
  if (mask == 0) return next;
  if (exchanges_.size() >= set.max_in_flight) {
    engine_.CountExchange(Outcome::kShed);
    return next;
  }
  auto x = std::make_unique<Exchange>();
  x->mask = mask;
  x->next_follows = next;
  if (UsingSource(mask, Source::kRequestBody)) {
    x->request.Start(HeaderOf(head, "content-type"), HeaderOf(head, "content-encoding"),
                     ExpectedLength(http1::RequestBodyFraming(head)), set.max_body_bytes);
  }
  KeepHeaders(set.rules, mask, Source::kRequestHeader, head, &x->request_headers);
  engine_.CountExchange(Outcome::kFollowed);
  exchanges_[{conn.conn_id, exchange}] = std::move(x);
  return true;
}

void RulesSink::OnResponseHead(const conn::ConnectionInfo& conn, uint64_t exchange,
                               const http1::ResponseHead& head, uint64_t ts_ns) {
  auto it = exchanges_.find({conn.conn_id, exchange});
  if (it == exchanges_.end()) {
    next_.OnResponseHead(conn, exchange, head, ts_ns);
    return;
  }
  Exchange& x = *it->second;
  const RuleSet& set = engine_.rules();
  for (size_t i = 0; i < set.rules.size(); ++i) {
    if ((x.mask >> i & 1) && !set.rules[i].StatusMatches(head.status)) {
      x.mask &= ~(uint64_t(1) << i);
    }
  }
  if (x.mask == 0) {
    x.request.Drop();
  } else {
    if (UsingSource(x.mask, Source::kResponseBody)) {
      x.response.Start(HeaderOf(head, "content-type"), HeaderOf(head, "content-encoding"),
                       ExpectedLength(http1::ResponseBodyFraming(head, "")), set.max_body_bytes);
    }
    KeepHeaders(set.rules, x.mask, Source::kResponseHeader, head, &x.response_headers);
  }
  if (x.next_follows) next_.OnResponseHead(conn, exchange, head, ts_ns);
}

void RulesSink::OnBody(const conn::ConnectionInfo& conn, uint64_t exchange, bool request,
                       std::string_view bytes, uint64_t ts_ns) {
  auto it = exchanges_.find({conn.conn_id, exchange});
  if (it == exchanges_.end()) {
    next_.OnBody(conn, exchange, request, bytes, ts_ns);
    return;
  }
  Exchange& x = *it->second;
  if (x.mask != 0) (request ? x.request : x.response).Feed(bytes);
  if (x.next_follows) next_.OnBody(conn, exchange, request, bytes, ts_ns);
}

void RulesSink::OnBodyGap(const conn::ConnectionInfo& conn, uint64_t exchange, bool request,
                          uint64_t n) {
  auto it = exchanges_.find({conn.conn_id, exchange});
  if (it == exchanges_.end()) {
    next_.OnBodyGap(conn, exchange, request, n);
    return;
  }
  Exchange& x = *it->second;
  if (x.mask != 0) (request ? x.request : x.response).Gap(n);
  if (x.next_follows) next_.OnBodyGap(conn, exchange, request, n);
}

void RulesSink::OnHttp(const conn::ConnectionInfo& conn, const http1::Transaction& t) {
  auto it = exchanges_.find({conn.conn_id, t.id});
  if (it != exchanges_.end()) {
    std::unique_ptr<Exchange> x = std::move(it->second);
    exchanges_.erase(it);
    if (x->mask != 0) Evaluate(conn, *x, t);
  }
  next_.OnHttp(conn, t);
}

void RulesSink::OnHttpError(const conn::ConnectionInfo& conn, http1::ErrorKind kind) {
  next_.OnHttpError(conn, kind);
}

void RulesSink::Evaluate(const conn::ConnectionInfo& conn, Exchange& x,
                         const http1::Transaction& t) {
  const auto& rules = engine_.rules().rules;
  if (!t.answered) {
    // Whether it succeeded is unknown: not counted, but not silently either.
    for (size_t i = 0; i < rules.size(); ++i) {
      if (x.mask >> i & 1) engine_.CountError(i, Reason::kUnanswered);
    }
    return;
  }
  if (x.request.started()) x.request.Finish(t.request_body_bytes);
  if (x.response.started()) x.response.Finish(t.response_body_bytes);
  const prometheus::Labels& service = service_of_(conn).labels;
  for (size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if (!(x.mask >> i & 1) || !r.StatusMatches(t.status)) continue;
    double value = 1;
    if (r.value) {
      if (auto why = ReadNumber(i, *r.value, x, t, &value)) {
        engine_.CountError(i, *why);
        continue;
      }
      if (r.type == MetricType::kCounter && value < 0) {
        engine_.CountError(i, Reason::kNegativeValue);
        continue;
      }
    }
    std::vector<std::optional<std::string>> labels(r.labels.size());
    for (size_t l = 0; l < r.labels.size(); ++l) {
      std::string text;
      if (auto why = ReadText(i, r.labels[l].from, x, t, &text)) {
        engine_.CountError(i, *why);
      } else {
        labels[l] = std::move(text);
      }
    }
    engine_.Record(i, service, std::move(labels), value);
  }
}

std::optional<Reason> RulesSink::ReadText(size_t rule, const Extractor& e, Exchange& x,
                                          const http1::Transaction& t, std::string* out) {
  switch (e.source) {
    case Source::kRequestBody:
    case Source::kResponseBody: {
      Reason why = Reason::kNoBody;
      const nlohmann::json* doc =
          (e.source == Source::kRequestBody ? x.request : x.response).Document(&why);
      if (doc == nullptr) return why;
      return JsonLabel(*doc, e.pointer, out);
    }
    case Source::kRoute: {
      const std::string_view v = routes_[rule].Param(t.target, e.key);
      if (v.empty()) return Reason::kMissingField;
      out->assign(v);
      return std::nullopt;
    }
    case Source::kQuery: {
      auto v = QueryParam(t.target, e.key);
      if (!v) return Reason::kMissingField;
      *out = std::move(*v);
      return std::nullopt;
    }
    case Source::kRequestHeader:
    case Source::kResponseHeader: {
      const Headers& headers =
          e.source == Source::kRequestHeader ? x.request_headers : x.response_headers;
      for (const auto& [name, value] : headers) {
        if (name == e.key) {
          *out = value;
          return std::nullopt;
        }
      }
      return Reason::kMissingField;
    }
  }
  return Reason::kMissingField;
}

std::optional<Reason> RulesSink::ReadNumber(size_t rule, const Extractor& e, Exchange& x,
                                            const http1::Transaction& t, double* out) {
  if (e.source == Source::kRequestBody || e.source == Source::kResponseBody) {
    Reason why = Reason::kNoBody;
    const nlohmann::json* doc =
        (e.source == Source::kRequestBody ? x.request : x.response).Document(&why);
    if (doc == nullptr) return why;
    return JsonNumber(*doc, e.pointer, out);
  }
  std::string text;
  if (auto why = ReadText(rule, e, x, t, &text)) return why;
  return TextNumber(text, out);
}

}  // namespace sightline::business
