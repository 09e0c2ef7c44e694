// The alert signal sinks: every call reaches the next sink unchanged, and
// only answered server-side exchanges (and finished AI calls) become signals.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "alerts/alerting.h"

namespace sightline::alerts {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

struct Recording : conn::TransactionSink {
  std::vector<std::string> calls;
  bool follow = true;
  void OnHttp(const conn::ConnectionInfo& c, const http1::Transaction& t) override {
    calls.push_back("http " + std::to_string(c.conn_id) + " " + std::to_string(t.status));
  }
  void OnHttpError(const conn::ConnectionInfo&, http1::ErrorKind k) override {
    calls.push_back("error " + std::string(http1::ErrorKindName(k)));
  }
  bool FollowBody(const conn::ConnectionInfo&, uint64_t x, http1::Side,
                  const http1::RequestHead& h) override {
    calls.push_back("follow " + std::to_string(x) + " " + h.target);
    return follow;
  }
  void OnResponseHead(const conn::ConnectionInfo&, uint64_t x, const http1::ResponseHead& h,
                      uint64_t ts) override {
    calls.push_back("head " + std::to_string(x) + " " + std::to_string(h.status) + " " +
                    std::to_string(ts));
  }
  void OnBody(const conn::ConnectionInfo&, uint64_t x, bool request, std::string_view b,
              uint64_t ts) override {
    calls.push_back("body " + std::to_string(x) + " " + (request ? "req " : "resp ") +
                    std::string(b) + " " + std::to_string(ts));
  }
  void OnBodyGap(const conn::ConnectionInfo&, uint64_t x, bool request, uint64_t n) override {
    calls.push_back("gap " + std::to_string(x) + " " + (request ? "req " : "resp ") +
                    std::to_string(n));
  }
};

process::ProcessInfo Named(std::string name) {
  process::ProcessInfo p;
  p.service_name = std::move(name);
  process::SetIdentity(p, false);
  return p;
}

TEST(AlertsSink, ForwardsEveryCallAndCountsServerAnswers) {
  Signals signals;
  Recording next;
  const process::ProcessInfo service = Named("api");
  uint64_t now = 100 * kSec;
  SignalSink sink(
      signals, next,
      [&](const conn::ConnectionInfo&) -> const process::ProcessInfo& { return service; },
      [&] { return now; });
  conn::ConnectionInfo c;
  c.conn_id = 7;
  http1::RequestHead req;
  req.target = "/x";
  http1::ResponseHead resp;
  resp.status = 503;
  EXPECT_TRUE(sink.FollowBody(c, 1, http1::Side::kServer, req));
  next.follow = false;
  EXPECT_FALSE(sink.FollowBody(c, 2, http1::Side::kServer, req));
  sink.OnResponseHead(c, 1, resp, 5);
  sink.OnBody(c, 1, false, "abc", 6);
  sink.OnBodyGap(c, 1, true, 9);
  sink.OnHttpError(c, http1::ErrorKind::kGap);
  http1::Transaction t;
  t.side = http1::Side::kServer;
  t.answered = true;
  t.status = 503;
  t.request_start_ns = 1 * kSec;
  t.response_end_ns = 3 * kSec;
  sink.OnHttp(c, t);
  http1::Transaction client = t;
  client.side = http1::Side::kClient;
  client.status = 500;
  sink.OnHttp(c, client);  // client side: forwarded, not a signal
  http1::Transaction unanswered = t;
  unanswered.answered = false;
  unanswered.status = 0;
  sink.OnHttp(c, unanswered);  // no answer: forwarded, not a signal
  EXPECT_EQ(next.calls, (std::vector<std::string>{"follow 1 /x", "follow 2 /x", "head 1 503 5",
                                                  "body 1 resp abc 6", "gap 1 req 9", "error gap",
                                                  "http 7 503", "http 7 500", "http 7 0"}));
  Rule r;
  r.window_seconds = 1;
  r.min_requests = 1;
  r.signal = Signal::kHttpRequestRate;
  EXPECT_DOUBLE_EQ(*signals.Value(r, "api", now), 1.0);
  r.signal = Signal::kHttpErrorRate;
  EXPECT_DOUBLE_EQ(*signals.Value(r, "api", now), 1.0);
  r.signal = Signal::kHttpP99Latency;
  EXPECT_NEAR(*signals.Value(r, "api", now), 2.0, 2.0 * LatencySketch::kRelativeError);
}

TEST(AlertsSink, AiCallsAreErrorsWhenTypedOrUnanswered) {
  Signals signals;
  const process::ProcessInfo service = Named("agent");
  CallSignalSink sink(
      signals, [&](const conn::ConnectionInfo&) -> const process::ProcessInfo& { return service; },
      [] { return 50 * kSec; }, nullptr);
  conn::ConnectionInfo c;
  genai::Call ok;
  ok.answered = true;
  ok.status = 200;
  genai::Call limited = ok;
  limited.status = 429;
  limited.outcome.error_type = "rate_limit_exceeded";
  genai::Call cut = ok;
  cut.answered = false;
  cut.status = 0;
  for (const auto* call : {&ok, &ok, &limited, &cut}) sink.OnCall(c, *call);
  Rule r;
  r.window_seconds = 10;
  r.min_requests = 1;
  r.signal = Signal::kGenAiErrorRate;
  EXPECT_DOUBLE_EQ(*signals.Value(r, "agent", 50 * kSec), 0.5);
  r.signal = Signal::kGenAiRateLimitedRatio;
  EXPECT_DOUBLE_EQ(*signals.Value(r, "agent", 50 * kSec), 0.25);
  r.signal = Signal::kGenAiCostPerHour;  // no price table: no cost, never a guess
  EXPECT_DOUBLE_EQ(*signals.Value(r, "agent", 50 * kSec), 0.0);
}

}  // namespace
}  // namespace sightline::alerts
