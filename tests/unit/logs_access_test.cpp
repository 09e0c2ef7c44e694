// The access log on the connection tracker, fed as the kernel would feed it,
// in front of the real AI accountant: exact lines for server, client,
// unanswered and AI exchanges (parsed back as JSON), correlation ids carried
// from the request head to the AI line, levels, masking across every field,
// sampling that keeps a correlation id's lines together, and the rate limit's
// exact drop count with a fake clock.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <array>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "conn/tracker.h"
#include "genai/accountant.h"
#include "genai/call_fanout.h"
#include "genai/pricing.h"
#include "logs/access_log.h"
#include "metrics/route.h"

namespace {

namespace logs = sightline::logs;
namespace genai = sightline::genai;
namespace http1 = sightline::http1;
using nlohmann::json;
using sightline::conn::ConnectionInfo;
using sightline::conn::ConnectionTracker;
using sightline::decode::ConnClose;
using sightline::decode::ConnOpen;
using sightline::decode::Data;
using sightline::decode::Direction;
using sightline::decode::Role;

constexpr uint64_t kMs = 1'000'000ull;
constexpr uint64_t kSecond = 1000 * kMs;
// 2026-11-24T10:00:00.123Z
constexpr uint64_t kWall = 1795514400ull * kSecond + 123 * kMs;
constexpr const char* kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

struct Http : sightline::conn::TransactionSink {
  std::vector<http1::Transaction> txns;
  void OnHttp(const ConnectionInfo&, const http1::Transaction& t) override { txns.push_back(t); }
  void OnHttpError(const ConnectionInfo&, http1::ErrorKind) override {}
};

double Counter(prometheus::Registry& r, const std::string& name, const std::string& label,
               const std::string& value) {
  for (const auto& f : r.Collect()) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      for (const auto& l : m.label) {
        if (l.name == label && l.value == value) return m.counter.value;
      }
    }
  }
  return -1;
}

double Plain(prometheus::Registry& r, const std::string& name) {
  for (const auto& f : r.Collect()) {
    if (f.name == name && f.metric.size() == 1) return f.metric[0].counter.value;
  }
  return -1;
}

struct Harness {
  explicit Harness(logs::AccessLogOptions o = Defaults()) {
    log = std::make_unique<logs::AccessLog>(
        o, logs::Masker(), accountant, routes,
        [this](const ConnectionInfo& c) -> const sightline::process::ProcessInfo& {
          return c.pid == 10 ? server_proc : client_proc;
        },
        [](uint32_t pid) { return pid == 10 ? std::string(64, 'c') : std::string(); },
        std::make_shared<const genai::PricingTable>(genai::PricingTable::Embedded()),
        logs::LogClocks{[this] { return mono; }, [] { return kWall; }},
        [this](std::string line) {
          lines.push_back(std::move(line));
          return true;
        },
        metrics, 7);
    calls.Add(log.get());
    tracker = std::make_unique<ConnectionTracker>(sightline::conn::TrackerLimits{}, *log);
  }
  static logs::AccessLogOptions Defaults() {
    logs::AccessLogOptions o;
    o.environment = "staging";
    o.log_headers = {"user-agent", "authorization"};
    o.rate_limit = 0;
    return o;
  }

  void Open(uint64_t conn, uint32_t pid, Role role, sightline::decode::Endpoint remote) {
    ConnOpen o;
    o.timestamp_ns = 1;
    o.pid = pid;
    o.fd = uint32_t(conn);
    o.conn_id = conn;
    o.role = role;
    o.local = {"127.0.0.1", 8080};
    o.remote = remote;
    tracker->OnOpen(o);
  }
  void Send(uint64_t conn, uint32_t pid, Direction dir, std::string_view bytes, uint64_t ts) {
    Data d;
    d.timestamp_ns = ts;
    d.pid = pid;
    d.fd = uint32_t(conn);
    d.conn_id = conn;
    d.direction = dir;
    d.payload = bytes;
    d.orig_len = uint32_t(bytes.size());
    d.seq = seq[conn][int(dir)];
    seq[conn][int(dir)] += bytes.size();
    tracker->OnData(d);
  }
  void Close(uint64_t conn, uint32_t pid, uint64_t ts) {
    ConnClose c;
    c.timestamp_ns = ts;
    c.pid = pid;
    c.fd = uint32_t(conn);
    c.conn_id = conn;
    tracker->OnClose(c);
  }
  // A server exchange on connection `conn` of pid 10.
  void Serve(uint64_t conn, const std::string& request, const std::string& response) {
    Send(conn, 10, Direction::kIngress, request, mono - 500 * kMs);
    Send(conn, 10, Direction::kEgress, response, mono - 455 * kMs);
  }
  json Line(size_t i) const { return json::parse(lines.at(i)); }
  double Dropped(const std::string& reason) {
    return Counter(registry, "sightline_log_lines_dropped_total", "reason", reason);
  }

  uint64_t mono = 100 * kSecond;
  static sightline::process::ProcessInfo Named(std::string name) {
    sightline::process::ProcessInfo p;
    p.service_name = std::move(name);
    sightline::process::SetIdentity(p, false);
    return p;
  }
  sightline::process::ProcessInfo server_proc = Named("checkout");
  sightline::process::ProcessInfo client_proc = Named("storefront");
  prometheus::Registry registry;
  logs::LogMetrics metrics{registry};
  sightline::metrics::RouteNormalizer routes;
  Http http;
  genai::CallFanout calls;
  genai::Accountant accountant{genai::AccountantOptions{}, http, calls};
  std::unique_ptr<logs::AccessLog> log;
  std::unique_ptr<ConnectionTracker> tracker;
  std::vector<std::string> lines;
  std::map<uint64_t, std::array<uint64_t, 2>> seq;
};

const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

TEST(LogsAccess, HttpServerLine) {
  Harness h;
  h.Open(1, 10, Role::kServer, {"127.0.0.1", 40000});
  h.Serve(
      1,
      "GET /api/campaigns/42?token=abc123&x=1 HTTP/1.1\r\nHost: shop\r\nUser-Agent: curl/8.5\r\n"
      "X-Request-ID: req-1\r\nAuthorization: Bearer abc.def\r\n\r\n",
      kOk);
  ASSERT_EQ(h.lines.size(), 1u);
  const json expected = {
      {"timestamp", "2026-11-24T09:59:59.623Z"},
      {"level", "INFO"},
      {"service", "checkout"},
      {"environment", "staging"},
      {"message", "HTTP request"},
      {"correlation_id", "req-1"},
      {"correlation_source", "x-request-id"},
      {"method", "GET"},
      {"path", "/api/campaigns/42"},
      {"query", "token=***&x=1"},
      {"route", "/api/campaigns/{id}"},
      {"status", 200},
      {"duration_ms", 45.0},
      {"direction", "server"},
      {"pid", 10},
      {"container_id", std::string(64, 'c')},
      {"peer", "127.0.0.1:40000"},
      {"request_bytes", 0},
      {"response_bytes", 5},
      {"headers", {{"user-agent", "curl/8.5"}, {"authorization", "***"}}},
  };
  EXPECT_EQ(h.Line(0), expected) << h.lines[0];
  // The brief's field order leads the line.
  EXPECT_EQ(h.lines[0].rfind("{\"timestamp\":\"2026-11-24T09:59:59.623Z\",\"level\":\"INFO\"", 0),
            0u);
  EXPECT_EQ(Counter(h.registry, "sightline_log_lines_total", "kind", "http"), 1);
  EXPECT_EQ(h.log->in_flight(), 0u);
}

TEST(LogsAccess, ProcessInAPodNamesItsNamespacePodAndContainer) {
  Harness h;
  h.server_proc.pod = sightline::process::PodIdentity{"checkout", "shop", "checkout-7d9f8b6c5-x2x9q",
                                                      "app"};
  h.server_proc.service_name = "checkout";
  h.Open(1, 10, Role::kServer, {"127.0.0.1", 40000});
  h.Serve(1, "GET /healthz HTTP/1.1\r\nHost: shop\r\n\r\n", kOk);
  ASSERT_EQ(h.lines.size(), 1u);
  const json line = h.Line(0);
  EXPECT_EQ(line["service"], "checkout");
  EXPECT_EQ(line["k8s_namespace_name"], "shop");
  EXPECT_EQ(line["k8s_pod_name"], "checkout-7d9f8b6c5-x2x9q");
  EXPECT_EQ(line["k8s_container_name"], "app");
  // Only the pod known (its container not yet listed): no container field.
  h.server_proc.pod->container_name.clear();
  h.mono += kSecond;
  h.Serve(1, "GET /healthz HTTP/1.1\r\nHost: shop\r\n\r\n", kOk);
  ASSERT_EQ(h.lines.size(), 2u);
  EXPECT_EQ(h.Line(1)["k8s_pod_name"], "checkout-7d9f8b6c5-x2x9q");
  EXPECT_FALSE(h.Line(1).contains("k8s_container_name"));
}

TEST(LogsAccess, HttpClientLineWithTraceparentAnd5xx) {
  Harness h;
  h.Open(2, 11, Role::kClient, {"10.0.0.7", 8081});
  h.Send(2, 11, Direction::kEgress,
         std::string("POST /v1/orders HTTP/1.1\r\nHost: orders.internal:8081\r\ntraceparent: ") +
             kTraceparent + "\r\nX-Request-ID: loses\r\nContent-Length: 4\r\n\r\nabcd",
         h.mono - 20 * kMs);
  h.Send(2, 11, Direction::kIngress,
         "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", h.mono - 8 * kMs);
  ASSERT_EQ(h.lines.size(), 1u);
  const json expected = {
      {"timestamp", "2026-11-24T10:00:00.103Z"},
      {"level", "ERROR"},
      {"service", "storefront"},
      {"environment", "staging"},
      {"message", "HTTP client request"},
      {"correlation_id", "4bf92f3577b34da6a3ce929d0e0e4736"},
      {"correlation_source", "traceparent"},
      {"method", "POST"},
      {"path", "/v1/orders"},
      {"route", "/v1/orders"},
      {"status", 503},
      {"duration_ms", 12.0},
      {"direction", "client"},
      {"pid", 11},
      {"peer", "10.0.0.7:8081"},
      {"server_address", "orders.internal"},
      {"server_port", 8081},
      {"request_bytes", 4},
      {"response_bytes", 0},
  };
  EXPECT_EQ(h.Line(0), expected) << h.lines[0];
}

TEST(LogsAccess, UnansweredAnd4xxAreWarnings) {
  Harness h;
  h.Open(1, 10, Role::kServer, {"127.0.0.1", 40000});
  h.Serve(1, "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n",
          "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  h.Send(1, 10, Direction::kIngress, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n", h.mono - 2 * kSecond);
  h.Close(1, 10, h.mono);
  ASSERT_EQ(h.lines.size(), 2u);
  json notfound = h.Line(0), unanswered = h.Line(1);
  EXPECT_EQ(notfound["level"], "WARNING");
  EXPECT_EQ(notfound["status"], 404);
  EXPECT_EQ(unanswered["level"], "WARNING");
  EXPECT_EQ(unanswered["message"], "HTTP request unanswered");
  EXPECT_TRUE(unanswered["status"].is_null());
  EXPECT_FALSE(unanswered.contains("duration_ms"));
  EXPECT_EQ(unanswered["timestamp"], "2026-11-24T09:59:58.123Z");
  EXPECT_EQ(unanswered["path"], "/slow");
  EXPECT_EQ(unanswered["correlation_source"], "generated");
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  EXPECT_TRUE(std::regex_match(unanswered["correlation_id"].get<std::string>(), v4));
  EXPECT_NE(notfound["correlation_id"], unanswered["correlation_id"]);
}

constexpr std::string_view kChatBody =
    R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
constexpr std::string_view kChatResponse =
    R"({"id":"c1","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,)"
    R"("message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":)"
    R"({"prompt_tokens":1200,"completion_tokens":80,"total_tokens":1280,)"
    R"("prompt_tokens_details":{"cached_tokens":1024}}})";

TEST(LogsAccess, AiCallLineCarriesTheExchangesCorrelationId) {
  Harness h;
  h.Open(3, 11, Role::kClient, {"162.159.140.245", 443});
  const std::string request =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer "
      "sk-proj-4fJ9aQ2xLmN7pR0tUvWyZ1bC3dE5gH8k\r\nX-Request-ID: chat-7\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(kChatBody.size()) + "\r\n\r\n" + std::string(kChatBody);
  h.Send(3, 11, Direction::kEgress, request, h.mono - 900 * kMs);
  h.Send(3, 11, Direction::kIngress,
         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
             std::to_string(kChatResponse.size()) + "\r\n\r\n" + std::string(kChatResponse),
         h.mono - 100 * kMs);
  ASSERT_EQ(h.lines.size(), 2u);
  ASSERT_EQ(h.http.txns.size(), 1u);  // the chain behind saw it as usual
  json http_line = h.Line(0), ai = h.Line(1);
  EXPECT_EQ(http_line["message"], "HTTP client request");
  EXPECT_EQ(http_line["correlation_id"], "chat-7");
  json expected = http_line;
  expected["message"] = "AI API call";
  expected["gen_ai_provider"] = "openai";
  expected["gen_ai_operation"] = "chat";
  expected["request_model"] = "gpt-4o";
  expected["response_model"] = "gpt-4o-2024-08-06";
  expected["stream"] = false;
  expected["input_tokens"] = 1200;
  expected["output_tokens"] = 80;
  expected["cache_read_tokens"] = 1024;
  expected["cache_creation_tokens"] = 0;
  expected["reasoning_tokens"] = 0;
  // gpt-4o: 176 uncached input at $2.50/M, 1024 cached at $1.25/M, 80 output at $10/M.
  const double cost = 176 * 2.5e-6 + 1024 * 1.25e-6 + 80 * 10e-6;
  ASSERT_TRUE(ai.contains("cost_usd"));
  EXPECT_NEAR(ai["cost_usd"].get<double>(), cost, 1e-12);
  expected["cost_usd"] = ai["cost_usd"];
  EXPECT_EQ(ai, expected) << h.lines[1];
  EXPECT_EQ(ai["duration_ms"], 800.0);
  EXPECT_EQ(ai["server_address"], "api.openai.com");
  EXPECT_EQ(ai["headers"]["authorization"], "***");
  EXPECT_EQ(Counter(h.registry, "sightline_log_lines_total", "kind", "gen_ai"), 1);
  for (const auto& l : h.lines) EXPECT_EQ(l.find("sk-proj"), std::string::npos);
}

TEST(LogsAccess, AiErrorLineHasErrorTypeAndNoCost) {
  Harness h;
  h.Open(3, 11, Role::kClient, {"162.159.140.245", 443});
  h.Send(3, 11, Direction::kEgress,
         "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: " +
             std::to_string(kChatBody.size()) + "\r\n\r\n" + std::string(kChatBody),
         h.mono - 300 * kMs);
  const std::string err =
      R"({"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}})";
  h.Send(3, 11, Direction::kIngress,
         "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: " +
             std::to_string(err.size()) + "\r\n\r\n" + err,
         h.mono - 100 * kMs);
  ASSERT_EQ(h.lines.size(), 2u);
  json ai = h.Line(1);
  EXPECT_EQ(ai["level"], "WARNING");
  EXPECT_EQ(ai["status"], 429);
  EXPECT_EQ(ai["error_type"], "rate_limit_exceeded");
  EXPECT_FALSE(ai.contains("cost_usd"));
  EXPECT_FALSE(ai.contains("input_tokens"));
  EXPECT_EQ(ai["correlation_id"], h.Line(0)["correlation_id"]);
  EXPECT_EQ(ai["correlation_source"], "generated");
}

TEST(LogsAccess, SecretsMaskedInEveryField) {
  Harness h;
  h.Open(1, 10, Role::kServer, {"127.0.0.1", 40000});
  const std::vector<std::string> secrets = {
      "sk-live-abcdef0123456789ABCDEF",
      "a@b.example",
      "4111111111111111",
      "AKIAIOSFODNN7EXAMPLE",
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl",
      "hunter2"};
  h.Serve(1,
          "GET /u/a@b.example/cards/4111111111111111?token=sk-live-abcdef0123456789ABCDEF"
          "&email=a@b.example&password=hunter2 HTTP/1.1\r\nHost: x\r\n"
          "User-Agent: bot AKIAIOSFODNN7EXAMPLE\r\nAuthorization: hunter2\r\n"
          "X-Request-ID: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl\r\n\r\n",
          kOk);
  ASSERT_EQ(h.lines.size(), 1u);
  for (const auto& s : secrets) EXPECT_EQ(h.lines[0].find(s), std::string::npos) << s;
  json line = h.Line(0);
  EXPECT_EQ(line["path"], "/u/***/cards/***");
  EXPECT_EQ(line["query"], "token=***&email=***&password=***");
  EXPECT_EQ(line["correlation_id"], "***");
  EXPECT_EQ(line["headers"]["user-agent"], "bot ***");
}

TEST(LogsAccess, MinimumLevelFilters) {
  auto o = Harness::Defaults();
  o.min_level = logs::Level::kWarning;
  Harness h(o);
  h.Open(1, 10, Role::kServer, {"127.0.0.1", 40000});
  h.Serve(1, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", kOk);
  h.Serve(1, "GET /bad HTTP/1.1\r\nHost: a\r\n\r\n",
          "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(h.lines.size(), 1u);
  EXPECT_EQ(h.Line(0)["path"], "/bad");
  EXPECT_EQ(h.Dropped("below_level"), 1);
}

TEST(LogsAccess, RateLimitDropsExactly) {
  auto o = Harness::Defaults();
  o.rate_limit = 5;
  Harness h(o);
  h.Open(1, 10, Role::kServer, {"127.0.0.1", 40000});
  for (int i = 0; i < 20; ++i) h.Serve(1, "GET /r HTTP/1.1\r\nHost: a\r\n\r\n", kOk);
  EXPECT_EQ(h.lines.size(), 5u);
  EXPECT_EQ(h.Dropped("rate_limit"), 15);
  h.mono += kSecond;  // one more second of tokens
  for (int i = 0; i < 20; ++i) h.Serve(1, "GET /r HTTP/1.1\r\nHost: a\r\n\r\n", kOk);
  EXPECT_EQ(h.lines.size(), 10u);
  EXPECT_EQ(h.Dropped("rate_limit"), 30);
  EXPECT_EQ(Counter(h.registry, "sightline_log_lines_total", "kind", "http"), 10);
}

TEST(LogsAccess, SamplingKeepsBothSidesOfACorrelationId) {
  auto o = Harness::Defaults();
  o.mode = logs::Mode::kSample;
  o.sample_rate = 0.5;
  Harness h(o);
  h.Open(1, 10, Role::kServer, {"127.0.0.1", 40000});
  h.Open(2, 11, Role::kClient, {"127.0.0.1", 8080});
  for (int i = 0; i < 200; ++i) {
    const std::string req =
        "GET /s HTTP/1.1\r\nHost: a\r\nX-Request-ID: id-" + std::to_string(i) + "\r\n\r\n";
    h.Serve(1, req, kOk);
    h.Send(2, 11, Direction::kEgress, req, h.mono - 10 * kMs);
    h.Send(2, 11, Direction::kIngress, kOk, h.mono - 5 * kMs);
  }
  std::map<std::string, int> per_id;
  for (size_t i = 0; i < h.lines.size(); ++i) per_id[h.Line(i)["correlation_id"]]++;
  for (const auto& [id, n] : per_id) EXPECT_EQ(n, 2) << id;
  EXPECT_GT(per_id.size(), 60u);
  EXPECT_LT(per_id.size(), 140u);
  EXPECT_EQ(h.Dropped("sampled_out"), double(400 - h.lines.size()));
}

TEST(LogsAccess, OffWritesNothingAndForwardsEverything) {
  auto o = Harness::Defaults();
  o.mode = logs::Mode::kOff;
  Harness h(o);
  h.Open(1, 10, Role::kServer, {"127.0.0.1", 40000});
  h.Serve(1, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n", kOk);
  EXPECT_TRUE(h.lines.empty());
  EXPECT_EQ(h.http.txns.size(), 1u);
  EXPECT_EQ(h.log->in_flight(), 0u);
}

TEST(LogsAccess, InFlightIsBoundedAndSwept) {
  auto o = Harness::Defaults();
  o.max_in_flight = 2;
  o.max_age_ns = 10 * kSecond;
  Harness h(o);
  h.Open(1, 10, Role::kServer, {"127.0.0.1", 40000});
  // Pipelined requests without answers: two kept, the third untracked.
  for (int i = 0; i < 3; ++i) {
    h.Send(1, 10, Direction::kIngress,
           "GET /p HTTP/1.1\r\nHost: a\r\nX-Request-ID: p-" + std::to_string(i) + "\r\n\r\n",
           h.mono);
  }
  EXPECT_EQ(h.log->in_flight(), 2u);
  EXPECT_EQ(Plain(h.registry, "sightline_log_exchanges_untracked_total"), 1);
  h.log->Sweep(h.mono + 11 * kSecond);
  EXPECT_EQ(h.log->in_flight(), 0u);
}

TEST(LogsAccess, Levels) {
  EXPECT_EQ(logs::ParseLevel("INFO"), logs::Level::kInfo);
  EXPECT_EQ(logs::ParseLevel("warn"), logs::Level::kWarning);
  EXPECT_EQ(logs::ParseLevel("Warning"), logs::Level::kWarning);
  EXPECT_FALSE(logs::ParseLevel("loud"));
  EXPECT_EQ(logs::FormatTimestamp(kWall), "2026-11-24T10:00:00.123Z");
}

}  // namespace
