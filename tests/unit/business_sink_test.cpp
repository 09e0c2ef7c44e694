// The rules sink on the connection tracker, fed as the kernel would feed it:
// exact counts and gauges per label, bodies split anywhere and chunked, lost
// bytes counted rather than guessed, label bounds, reloads; and the next sink
// in the chain seeing exactly the calls it sees without the rules sink.
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <map>
#include <string>
#include <vector>

#include "business/engine.h"
#include "business/rules_sink.h"
#include "conn/tracker.h"

namespace {

namespace business = sightline::business;
namespace http1 = sightline::http1;
using sightline::conn::ConnectionInfo;
using sightline::conn::ConnectionTracker;
using sightline::conn::TransactionSink;
using sightline::decode::ConnClose;
using sightline::decode::ConnOpen;
using sightline::decode::Data;
using sightline::decode::Direction;
using sightline::decode::Role;

// The next sink: logs every call it gets, and follows the bodies of requests
// whose target contains "follow" (as the AI accountant follows AI calls).
struct Recorder : TransactionSink {
  std::vector<std::string> log;
  void OnHttp(const ConnectionInfo& c, const http1::Transaction& t) override {
    log.push_back("http " + std::to_string(c.conn_id) + " " + std::to_string(t.id) + " " +
                  t.method + " " + t.target + " " + std::to_string(t.status) + " " +
                  std::to_string(t.answered) + " " + std::to_string(t.request_body_bytes) + " " +
                  std::to_string(t.response_body_bytes));
  }
  void OnHttpError(const ConnectionInfo&, http1::ErrorKind k) override {
    log.push_back("error " + std::string(http1::ErrorKindName(k)));
  }
  bool FollowBody(const ConnectionInfo& c, uint64_t x, http1::Side side,
                  const http1::RequestHead& head) override {
    log.push_back("follow? " + std::to_string(c.conn_id) + " " + std::to_string(x) + " " +
                  std::to_string(int(side)) + " " + head.method + " " + head.target);
    return head.target.find("follow") != std::string::npos;
  }
  void OnResponseHead(const ConnectionInfo&, uint64_t x, const http1::ResponseHead& h,
                      uint64_t ts) override {
    log.push_back("head " + std::to_string(x) + " " + std::to_string(h.status) + " " +
                  std::to_string(ts));
  }
  void OnBody(const ConnectionInfo&, uint64_t x, bool request, std::string_view bytes,
              uint64_t ts) override {
    log.push_back("body " + std::to_string(x) + " " + std::to_string(request) + " " +
                  std::string(bytes) + " " + std::to_string(ts));
  }
  void OnBodyGap(const ConnectionInfo&, uint64_t x, bool request, uint64_t n) override {
    log.push_back("gap " + std::to_string(x) + " " + std::to_string(request) + " " +
                  std::to_string(n));
  }
};

constexpr const char* kRules = R"(
metrics:
  - name: campaigns_created_total
    type: counter
    match: {method: POST, route: /api/campaigns, status: 2xx}
    labels:
      platform: {from: request_body, pointer: /platform, values: [meta, google, tiktok]}
  - name: roas_value
    type: gauge
    match: {method: GET, route: "/api/campaigns/{id}/roas"}
    value: {from: response_body, pointer: /roas}
    labels:
      platform: {from: response_body, pointer: /platform, max_values: 2}
  - name: items_sold_total
    type: counter
    match: {method: POST, route: "/api/shops/{shop}/orders", status: 201}
    value: {from: response_body, pointer: /items}
    labels:
      shop: {from: route, param: shop, max_values: 20}
      channel: {from: query, param: ch, values: [web, app]}
      tenant: {from: request_header, header: X-Tenant}
      region: {from: response_header, header: X-Region}
)";

business::RuleSet Rules(const std::string& yaml = kRules) {
  std::string error;
  auto set = business::ParseRules(yaml, &error);
  EXPECT_TRUE(set.has_value()) << error;
  return set ? std::move(*set) : business::RuleSet{};
}

business::Engine& Installed(business::Engine& engine, business::RuleSet rules) {
  engine.Install(std::move(rules));
  return engine;
}

struct Harness {
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>& dropped =
      prometheus::BuildCounter().Name("sightline_series_dropped_total").Register(registry);
  business::Engine engine;
  Recorder next;
  std::string service = "shop-api";
  sightline::process::ProcessInfo proc;
  business::RulesSink sink;
  ConnectionTracker tracker{{}, sink};
  std::map<uint64_t, std::array<uint64_t, 2>> seq;

  explicit Harness(business::RuleSet rules = Rules(), size_t budget = 100)
      : engine(registry, dropped, budget),
        sink(Installed(engine, std::move(rules)), next,
             [this](const ConnectionInfo&) -> const sightline::process::ProcessInfo& {
               if (proc.service_name != service) {
                 proc.service_name = service;
                 sightline::process::SetIdentity(proc, false);
               }
               return proc;
             }) {
    Open(1);
  }

  void Open(uint64_t conn, Role role = Role::kServer) {
    ConnOpen o;
    o.timestamp_ns = 1;
    o.pid = 10;
    o.fd = uint32_t(conn + 4);
    o.conn_id = conn;
    o.role = role;
    o.remote = {"10.0.0.1", 40000};
    tracker.OnOpen(o);
  }
  // `lost` bytes after `bytes` passed uncaptured (as a truncated capture).
  void Send(Direction dir, std::string_view bytes, uint64_t ts = 100, uint64_t conn = 1,
            uint32_t lost = 0) {
    Data d;
    d.timestamp_ns = ts;
    d.pid = 10;
    d.fd = uint32_t(conn + 4);
    d.conn_id = conn;
    d.direction = dir;
    d.payload = bytes;
    d.orig_len = uint32_t(bytes.size()) + lost;
    d.seq = seq[conn][int(dir)];
    seq[conn][int(dir)] += d.orig_len;
    tracker.OnData(d);
  }
  void Close(uint64_t conn = 1) {
    ConnClose c;
    c.timestamp_ns = 1000;
    c.pid = 10;
    c.fd = uint32_t(conn + 4);
    c.conn_id = conn;
    tracker.OnClose(c);
  }

  // Value of the series with exactly these labels; -1 when absent.
  double Value(const std::string& name, std::map<std::string, std::string> labels) {
    for (const auto& f : registry.Collect()) {
      if (f.name != name) continue;
      for (const auto& m : f.metric) {
        std::map<std::string, std::string> got;
        for (const auto& l : m.label) got[l.name] = l.value;
        if (got == labels)
          return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
      }
    }
    return -1;
  }
  double Errors(const std::string& metric, const std::string& reason) {
    const double v =
        Value("sightline_business_rule_errors_total", {{"metric", metric}, {"reason", reason}});
    return v < 0 ? 0 : v;
  }
  double Campaigns(const std::string& platform) {
    return Value("campaigns_created_total", {{"service_name", service}, {"platform", platform}});
  }
};

std::string Post(std::string_view path, std::string_view body,
                 std::string_view type = "application/json", std::string_view extra = "") {
  return "POST " + std::string(path) +
         " HTTP/1.1\r\nHost: shop\r\nContent-Type: " + std::string(type) + "\r\n" +
         std::string(extra) + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

std::string Response(int status, std::string_view body, std::string_view extra = "") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
         std::string(extra) + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

std::string Chunked(std::string_view body, size_t piece) {
  std::string out;
  for (size_t i = 0; i < body.size(); i += piece) {
    const std::string_view p = body.substr(i, piece);
    char size[32];
    snprintf(size, sizeof(size), "%zx\r\n", p.size());
    out += size + std::string(p) + "\r\n";
  }
  return out + "0\r\n\r\n";
}

void Create(Harness& h, std::string_view platform_json, int status = 201) {
  h.Send(Direction::kIngress,
         Post("/api/campaigns", R"({"name":"n","platform":)" + std::string(platform_json) + "}"));
  h.Send(Direction::kEgress, Response(status, R"({"id":"c-1"})"));
}

TEST(BusinessSink, CountsCampaignsByPlatformExactly) {
  Harness h;
  for (int i = 0; i < 7; ++i) Create(h, R"("meta")");
  for (int i = 0; i < 4; ++i) Create(h, R"("google")");
  Create(h, R"("myspace")");
  Create(h, R"("friendster")");
  for (int i = 0; i < 3; ++i) Create(h, R"("meta")", 422);  // failed: not counted
  Create(h, "null");                                        // no platform: "unknown"
  EXPECT_EQ(h.Campaigns("meta"), 7);
  EXPECT_EQ(h.Campaigns("google"), 4);
  EXPECT_EQ(h.Campaigns("other"), 2);
  EXPECT_EQ(h.Campaigns("unknown"), 1);
  EXPECT_EQ(h.Campaigns("tiktok"), -1);
  EXPECT_EQ(h.Errors("campaigns_created_total", "label_other"), 2);
  EXPECT_EQ(h.Errors("campaigns_created_total", "missing_field"), 1);
  EXPECT_EQ(h.Value("sightline_business_exchanges_total", {{"outcome", "followed"}}), 17);
  EXPECT_EQ(h.sink.in_flight(), 0u);
}

TEST(BusinessSink, RequestBodySplitAnywhereAndChunked) {
  const std::string body = R"({"platform":"tiktok","name":"Spring"})";
  const std::string plain = Post("/api/campaigns", body);
  const std::string chunked =
      "POST /api/campaigns HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n" +
      Chunked(body, 5);
  for (const std::string& request : {plain, chunked}) {
    Harness h;
    for (size_t cut = 0; cut <= request.size(); ++cut) {
      h.Send(Direction::kIngress, std::string_view(request).substr(0, cut));
      h.Send(Direction::kIngress, std::string_view(request).substr(cut));
      h.Send(Direction::kEgress, Response(201, "{}"));
    }
    EXPECT_EQ(h.Campaigns("tiktok"), double(request.size() + 1));
    EXPECT_EQ(h.Errors("campaigns_created_total", "invalid_json"), 0);
  }
}

TEST(BusinessSink, GaugeIsTheLastValueWhateverTheSplit) {
  Harness h;
  const std::string get = "GET /api/campaigns/c-9/roas HTTP/1.1\r\nHost: shop\r\n\r\n";
  double last = 0;
  for (int i = 0; i < 40; ++i) {
    last = 1.25 * i;
    const std::string body = R"({"platform":"meta","roas":)" + std::to_string(last) + "}";
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
        Chunked(body, 7);
    const size_t cut = size_t(i) * response.size() / 40;
    h.Send(Direction::kIngress, get);
    h.Send(Direction::kEgress, std::string_view(response).substr(0, cut));
    h.Send(Direction::kEgress, std::string_view(response).substr(cut));
    ASSERT_EQ(h.Value("roas_value", {{"service_name", "shop-api"}, {"platform", "meta"}}), last)
        << i;
  }
}

TEST(BusinessSink, LostBytesAreCountedNotGuessed) {
  Harness h;
  const std::string body = R"({"name":"n","platform":"meta"})";
  const std::string request = Post("/api/campaigns", body);
  // The last 10 body bytes pass uncaptured: the platform is not guessed.
  h.Send(Direction::kIngress, std::string_view(request).substr(0, request.size() - 10), 100, 1, 10);
  h.Send(Direction::kEgress, Response(201, "{}"));
  EXPECT_EQ(h.Campaigns("meta"), -1);
  EXPECT_EQ(h.Campaigns("unknown"), 1);  // the campaign was created: counted, platform unknown
  EXPECT_EQ(h.Errors("campaigns_created_total", "body_incomplete"), 1);

  // A gauge whose value is cut off is not set at all.
  const std::string roas = R"({"platform":"google","roas":4.5})";
  const std::string response = Response(200, roas);
  h.Send(Direction::kIngress, "GET /api/campaigns/1/roas HTTP/1.1\r\nHost: shop\r\n\r\n");
  h.Send(Direction::kEgress, std::string_view(response).substr(0, response.size() - 4), 200, 1, 4);
  EXPECT_EQ(h.Value("roas_value", {{"service_name", "shop-api"}, {"platform", "google"}}), -1);
  EXPECT_EQ(h.Value("roas_value", {{"service_name", "shop-api"}, {"platform", "unknown"}}), -1);
  EXPECT_EQ(h.Errors("roas_value", "body_incomplete"), 1);
}

TEST(BusinessSink, NonJsonInvalidJsonAndUnanswered) {
  Harness h;
  h.Send(Direction::kIngress,
         Post("/api/campaigns", "platform=meta", "application/x-www-form-urlencoded"));
  h.Send(Direction::kEgress, Response(201, "{}"));
  h.Send(Direction::kIngress, Post("/api/campaigns", R"({"platform":"meta")"));
  h.Send(Direction::kEgress, Response(201, "{}"));
  EXPECT_EQ(h.Campaigns("unknown"), 2);
  EXPECT_EQ(h.Errors("campaigns_created_total", "not_json"), 1);
  EXPECT_EQ(h.Errors("campaigns_created_total", "invalid_json"), 1);
  // No response before the connection closed: whether it succeeded is unknown.
  h.Send(Direction::kIngress, Post("/api/campaigns", R"({"platform":"meta"})"));
  h.Close();
  EXPECT_EQ(h.Campaigns("meta"), -1);
  EXPECT_EQ(h.Errors("campaigns_created_total", "unanswered"), 1);
  EXPECT_EQ(h.sink.in_flight(), 0u);
}

TEST(BusinessSink, LabelBoundsOverflowAndTruncation) {
  Harness h;
  auto roas = [&](const std::string& platform) {
    h.Send(Direction::kIngress, "GET /api/campaigns/1/roas HTTP/1.1\r\nHost: shop\r\n\r\n");
    h.Send(Direction::kEgress, Response(200, R"({"roas":2,"platform":")" + platform + "\"}"));
  };
  roas("meta");
  roas("google");
  roas("tiktok");  // a third distinct value: max_values is 2
  roas("linkedin");
  roas("meta");  // admitted values stay admitted
  EXPECT_EQ(h.Value("roas_value", {{"service_name", "shop-api"}, {"platform", "_overflow"}}), 2);
  EXPECT_EQ(h.Errors("roas_value", "label_overflow"), 2);
  EXPECT_EQ(h.Value("roas_value", {{"service_name", "shop-api"}, {"platform", "meta"}}), 2);

  Harness t;
  const std::string long_shop(100, 's');
  t.Send(Direction::kIngress, Post("/api/shops/" + long_shop + "/orders?ch=web", "{}"));
  t.Send(Direction::kEgress, Response(201, R"({"items":3})"));
  EXPECT_EQ(t.Value("items_sold_total", {{"service_name", "shop-api"},
                                         {"shop", std::string(64, 's')},
                                         {"channel", "web"},
                                         {"tenant", "unknown"},
                                         {"region", "unknown"}}),
            3);
  EXPECT_EQ(t.Errors("items_sold_total", "label_truncated"), 1);
  EXPECT_EQ(t.Errors("items_sold_total", "missing_field"), 2);

  // Label values are UTF-8 whatever the traffic sends.
  t.Send(Direction::kIngress, Post("/api/shops/caf%C3%A9/orders?ch=web", "{}", "application/json",
                                   "X-Tenant: a\xff\r\n"));
  t.Send(Direction::kEgress, Response(201, R"({"items":1})"));
  EXPECT_EQ(t.Value("items_sold_total", {{"service_name", "shop-api"},
                                         {"shop", "caf%C3%A9"},
                                         {"channel", "web"},
                                         {"tenant", "a?"},
                                         {"region", "unknown"}}),
            1);
  EXPECT_EQ(t.Errors("items_sold_total", "label_not_utf8"), 1);
}

TEST(BusinessSink, RouteQueryHeaderLabelsAndCounterValues) {
  Harness h;
  auto order = [&](const std::string& target, const std::string& items, int status = 201) {
    h.Send(Direction::kIngress, Post(target, "{}", "application/json", "X-Tenant: acme\r\n"));
    h.Send(Direction::kEgress, Response(status, R"({"items":)" + items + "}", "X-Region: eu\r\n"));
  };
  order("/api/shops/paris/orders?ch=app", "3");
  order("/api/shops/paris/orders?x=1&ch=app", "4");
  order("/api/shops/paris/orders?ch=fax", "1");       // not an allowed channel
  order("/api/shops/paris/orders?ch=app", "-2");      // a counter never goes down
  order("/api/shops/paris/orders?ch=app", "\"5\"");   // a string is not a number
  order("/api/shops/paris/orders?ch=app", "9", 200);  // status 201 only
  order("/api/shops/paris/orders/7?ch=app", "9");     // another route
  const std::map<std::string, std::string> app = {{"service_name", "shop-api"},
                                                  {"shop", "paris"},
                                                  {"channel", "app"},
                                                  {"tenant", "acme"},
                                                  {"region", "eu"}};
  EXPECT_EQ(h.Value("items_sold_total", app), 7);
  auto other = app;
  other["channel"] = "other";
  EXPECT_EQ(h.Value("items_sold_total", other), 1);
  EXPECT_EQ(h.Errors("items_sold_total", "negative_value"), 1);
  EXPECT_EQ(h.Errors("items_sold_total", "not_a_number"), 1);
  EXPECT_EQ(h.Errors("items_sold_total", "label_other"), 1);
}

TEST(BusinessSink, SideServiceAndUnmatchedExchangesAreNotFollowed) {
  Harness h;
  // The same request made by a client process: the rule is for servers.
  h.Open(2, Role::kClient);
  h.Send(Direction::kEgress, Post("/api/campaigns", R"({"platform":"meta"})"), 100, 2);
  h.Send(Direction::kIngress, Response(201, "{}"), 100, 2);
  // Neither route nor method of any rule.
  h.Send(Direction::kIngress, Post("/api/other", R"({"platform":"meta"})"));
  h.Send(Direction::kEgress, Response(201, "{}"));
  h.Send(Direction::kIngress, "GET /api/campaigns HTTP/1.1\r\nHost: shop\r\n\r\n");
  h.Send(Direction::kEgress, Response(200, "[]"));
  EXPECT_EQ(h.Campaigns("meta"), -1);
  EXPECT_EQ(h.Value("sightline_business_exchanges_total", {{"outcome", "followed"}}), 0);

  Harness s(
      Rules("metrics:\n  - name: a_total\n    type: counter\n"
            "    match: {route: /a, service: '^billing$'}\n"));
  s.Send(Direction::kIngress, "GET /a HTTP/1.1\r\n\r\n");
  s.Send(Direction::kEgress, Response(200, "{}"));
  EXPECT_EQ(s.Value("a_total", {{"service_name", "shop-api"}}), -1);
  s.service = "billing";
  s.Send(Direction::kIngress, "GET /a HTTP/1.1\r\n\r\n");
  s.Send(Direction::kEgress, Response(200, "{}"));
  EXPECT_EQ(s.Value("a_total", {{"service_name", "billing"}}), 1);
}

TEST(BusinessSink, SeriesBudgetFoldsIntoOverflow) {
  Harness h(Rules(), /*budget=*/2);
  Create(h, R"("meta")");
  Create(h, R"("google")");
  Create(h, R"("tiktok")");
  EXPECT_EQ(h.Campaigns("meta"), 1);
  EXPECT_EQ(h.Campaigns("google"), 1);
  EXPECT_EQ(h.Campaigns("_overflow"), 1);
  EXPECT_EQ(h.Value("sightline_series_dropped_total", {{"metric", "campaigns_created_total"}}), 1);
}

TEST(BusinessSink, InFlightCapShedsAndCounts) {
  Harness h(Rules("max_in_flight: 1\n" + std::string(kRules)));
  // Pipelined: two requests in flight before any answer.
  h.Send(Direction::kIngress, Post("/api/campaigns", R"({"platform":"meta"})") +
                                  Post("/api/campaigns", R"({"platform":"meta"})"));
  h.Send(Direction::kEgress, Response(201, "{}") + Response(201, "{}"));
  EXPECT_EQ(h.Campaigns("meta"), 1);
  EXPECT_EQ(h.Value("sightline_business_exchanges_total", {{"outcome", "shed"}}), 1);
}

TEST(BusinessSink, ReloadKeepsUnchangedMetricsAndSkipsExchangesInFlight) {
  Harness h;
  Create(h, R"("meta")");
  // A request in flight when the rules change is not evaluated.
  h.Send(Direction::kIngress, Post("/api/campaigns", R"({"platform":"meta"})"));
  std::string changed = kRules;
  changed.replace(changed.find("max_values: 2"), 13, "max_values: 5");
  h.sink.Reload(Rules(changed));
  h.Send(Direction::kEgress, Response(201, "{}"));
  EXPECT_EQ(h.Campaigns("meta"), 1);
  EXPECT_EQ(h.Value("sightline_business_exchanges_total", {{"outcome", "reloaded"}}), 1);
  Create(h, R"("meta")");
  EXPECT_EQ(h.Campaigns("meta"), 2);  // same definition: the series went on
  EXPECT_EQ(h.Value("sightline_business_rules", {}), 3);

  // A rule gone takes its family with it.
  h.sink.Reload(Rules("metrics:\n  - {name: b_total, type: counter, match: {route: /b}}\n"));
  EXPECT_EQ(h.Campaigns("meta"), -1);
  EXPECT_EQ(h.Value("sightline_business_rules", {}), 1);
  h.Send(Direction::kIngress, "GET /b HTTP/1.1\r\n\r\n");
  h.Send(Direction::kEgress, Response(200, "{}"));
  EXPECT_EQ(h.Value("b_total", {{"service_name", "shop-api"}}), 1);
}

// The traffic of ForwardingIsIntact: exchanges the rules follow, the next sink
// follows, both, and neither; pipelined, chunked, with a gap and an error.
std::vector<std::pair<Direction, std::string>> MixedTraffic() {
  const std::string chunked_follow =
      "POST /api/campaigns?follow=1 HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n" +
      Chunked(R"({"platform":"google"})", 4);
  return {
      {Direction::kIngress, Post("/api/campaigns", R"({"platform":"meta"})")},
      {Direction::kEgress, Response(201, R"({"id":1})")},
      {Direction::kIngress, chunked_follow},
      {Direction::kEgress,
       "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
       "Transfer-Encoding: chunked\r\n\r\n" +
           Chunked(R"({"id":2})", 3)},
      {Direction::kIngress, Post("/x/follow", "abcdef", "text/plain") +
                                "GET /api/campaigns/3/roas HTTP/1.1\r\nHost: shop\r\n\r\n"},
      {Direction::kEgress,
       Response(200, "ok") + Response(200, R"({"platform":"meta","roas":1.5})")},
      {Direction::kIngress, "GET /plain HTTP/1.1\r\n\r\n"},
      {Direction::kEgress, Response(404, "{}")},
      {Direction::kIngress, "BREW /pot HTTP/1.1\r\n\r\n"},
      {Direction::kEgress, "garbage\r\n\r\n"},
  };
}

TEST(BusinessSink, ForwardingIsIntact) {
  const auto traffic = MixedTraffic();
  // Every split of every message: the next sink's log with and without the
  // rules sink in front must be the same.
  for (size_t cut = 0; cut < 40; cut += 3) {
    std::vector<std::string> logs[2];
    for (int with = 0; with < 2; ++with) {
      Harness h;
      Recorder direct;
      ConnectionTracker plain{{}, direct};
      ConnectionTracker& tracker = with ? h.tracker : plain;
      if (!with) {
        ConnOpen o;
        o.timestamp_ns = 1;
        o.pid = 10;
        o.fd = 5;
        o.conn_id = 1;
        o.role = Role::kServer;
        plain.OnOpen(o);
      }
      uint64_t seq[2] = {};
      uint64_t ts = 100;
      for (const auto& [dir, bytes] : traffic) {
        const size_t c = std::min(cut, bytes.size());
        for (std::string_view piece :
             {std::string_view(bytes).substr(0, c), std::string_view(bytes).substr(c)}) {
          Data d;
          d.timestamp_ns = ++ts;
          d.pid = 10;
          d.fd = 5;
          d.conn_id = 1;
          d.direction = dir;
          d.payload = piece;
          d.orig_len = uint32_t(piece.size());
          d.seq = seq[int(dir)];
          seq[int(dir)] += piece.size();
          tracker.OnData(d);
        }
      }
      logs[with] = with ? h.next.log : direct.log;
      if (with) {
        EXPECT_EQ(h.Campaigns("meta"), 1) << cut;
        EXPECT_EQ(h.Campaigns("google"), 1) << cut;
        EXPECT_EQ(h.Value("roas_value", {{"service_name", "shop-api"}, {"platform", "meta"}}), 1.5)
            << cut;
      }
    }
    ASSERT_FALSE(logs[0].empty());
    EXPECT_EQ(logs[1], logs[0]) << "cut " << cut;
  }
}

}  // namespace
