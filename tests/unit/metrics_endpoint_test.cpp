#include <arpa/inet.h>
#include <civetweb.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "metrics/endpoint.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace sightline::metrics {
namespace {

struct Response {
  int status = 0;
  std::string headers;  // raw header block, lines joined by "\r\n"
  std::string body;

  std::string Header(const std::string& name) const {
    const std::string key = "\r\n" + name + ": ";
    const std::size_t at = ("\r\n" + headers).find(key);
    if (at == std::string::npos) return "";
    const std::size_t begin = at + key.size() - 2;
    return headers.substr(begin, headers.find("\r\n", begin) - begin);
  }
};

// A minimal HTTP/1.1 client over a raw socket: one request, read to EOF.
Response Fetch(uint16_t port, const std::string& method,
               const std::string& target) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    throw std::runtime_error("connect failed");
  }
  const std::string request = method + " " + target +
                              " HTTP/1.1\r\nHost: localhost\r\n"
                              "Connection: close\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    throw std::runtime_error("send failed");
  }
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) raw.append(buf, n);
  close(fd);

  Response r;
  const std::size_t end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) {
    throw std::runtime_error("malformed response: " + raw);
  }
  r.status = std::stoi(raw.substr(9, 3));
  const std::size_t first_line = raw.find("\r\n");
  r.headers = raw.substr(first_line + 2, end - first_line - 2);
  r.body = raw.substr(end + 4);
  return r;
}

class HitsCollectable : public prometheus::Collectable {
 public:
  HitsCollectable() {
    prometheus::BuildCounter()
        .Name("test_hits_total")
        .Help("Hits.")
        .Register(registry_)
        .Add({{"service_name", "shop"}})
        .Increment(3);
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    return registry_.Collect();
  }

 private:
  prometheus::Registry registry_;
};

// civetweb takes up to two seconds to stop, so the tests share one server.
class HttpEndpointTest : public ::testing::Test {
 protected:
  enum class Health { kDown, kUp, kThrow };

  static void SetUpTestSuite() {
    hits_ = std::make_shared<HitsCollectable>();
    auto gone = std::make_shared<HitsCollectable>();
    endpoint_ = new HttpEndpoint("127.0.0.1:0", {gone, hits_}, [] {
      if (health_ == Health::kThrow) {
        throw std::runtime_error("probe state unknown");
      }
      return health_ == Health::kUp;
    });
    // Expired before the first scrape: it must be skipped, not crash.
  }
  static void TearDownTestSuite() {
    delete endpoint_;
    endpoint_ = nullptr;
    hits_.reset();
  }
  void SetUp() override { health_ = Health::kUp; }

  static uint16_t port() { return endpoint_->port(); }

  static inline std::shared_ptr<HitsCollectable> hits_;
  static inline HttpEndpoint* endpoint_ = nullptr;
  static inline std::atomic<Health> health_{Health::kUp};
};

TEST_F(HttpEndpointTest, ServesMetricsInTextFormat) {
  ASSERT_NE(port(), 0);
  const std::string families =
      "# HELP test_hits_total Hits.\n"
      "# TYPE test_hits_total counter\n"
      "test_hits_total{service_name=\"shop\"} 3\n"
      "# HELP sightline_scrapes_total Requests served on /metrics, this one "
      "included.\n"
      "# TYPE sightline_scrapes_total counter\n"
      "sightline_scrapes_total ";

  const Response first = Fetch(port(), "GET", "/metrics");
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.Header("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(first.Header("Content-Length"), std::to_string(first.body.size()));
  ASSERT_EQ(first.body.rfind(families, 0), 0u) << first.body;
  const int n = std::stoi(first.body.substr(families.size()));
  EXPECT_EQ(first.body, families + std::to_string(n) + "\n");

  // Query strings do not change the route; the scrape counter advances.
  const Response second = Fetch(port(), "GET", "/metrics?x=1");
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, families + std::to_string(n + 1) + "\n");

  const Response head = Fetch(port(), "HEAD", "/metrics");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
}

TEST_F(HttpEndpointTest, HealthzFollowsTheCallback) {
  health_ = Health::kDown;
  const Response down = Fetch(port(), "GET", "/healthz");
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.body, "unavailable\n");

  health_ = Health::kUp;
  const Response up = Fetch(port(), "GET", "/healthz");
  EXPECT_EQ(up.status, 200);
  EXPECT_EQ(up.body, "ok\n");
  EXPECT_EQ(up.Header("Content-Type"), "text/plain; charset=utf-8");

  const Response head = Fetch(port(), "HEAD", "/healthz");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Length"), "3");
  EXPECT_EQ(head.body, "");
}

TEST_F(HttpEndpointTest, UnknownPathsAre404AndOtherMethods405) {
  for (const char* path : {"/", "/metricsx", "/metrics/", "/healthz/x", "/x"}) {
    const Response r = Fetch(port(), "GET", path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body, "not found\n") << path;
  }
  for (const char* path : {"/metrics", "/healthz"}) {
    const Response post = Fetch(port(), "POST", path);
    EXPECT_EQ(post.status, 405) << path;
    EXPECT_EQ(post.Header("Allow"), "GET, HEAD") << path;
  }
}

TEST_F(HttpEndpointTest, ThrowingHealthCheckGives500) {
  health_ = Health::kThrow;
  const Response r = Fetch(port(), "GET", "/healthz");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "internal error\n");
  // The server keeps serving afterwards.
  health_ = Health::kUp;
  EXPECT_EQ(Fetch(port(), "GET", "/healthz").status, 200);
}

TEST_F(HttpEndpointTest, OccupiedPortIsAClearError) {
  const std::string listen = "127.0.0.1:" + std::to_string(port());
  try {
    HttpEndpoint second(listen, {}, [] { return true; });
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    const std::string expected = "cannot listen on \"" + listen +
                                 "\": cannot bind to " + listen +
                                 ": 98 (Address already in use)";
    EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << e.what();
  }
  // The running server is unaffected.
  EXPECT_EQ(Fetch(port(), "GET", "/healthz").status, 200);
}

TEST_F(HttpEndpointTest, HostnameIsNamedInBindErrors) {
  try {
    HttpEndpoint second("localhost:" + std::to_string(port()), {},
                        [] { return true; });
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    const std::string expected =
        "cannot listen on \"localhost:" + std::to_string(port()) +
        "\" (127.0.0.1:" + std::to_string(port()) + "): ";
    EXPECT_EQ(std::string(e.what()).rfind(expected, 0), 0u) << e.what();
  }
}

TEST(HttpEndpoint, InvalidAddressIsAClearError) {
  try {
    HttpEndpoint endpoint("abc", {}, [] { return true; });
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(),
                 "cannot serve HTTP: listen address \"abc\" has no port; "
                 "expected host:port, e.g. 0.0.0.0:9464");
  }
}

TEST(ListenAddress, ValidAddressesParse) {
  struct Case {
    std::string listen;
    std::string host;
    bool ipv6;
    uint16_t port;
  };
  const std::vector<Case> cases = {
      {"0.0.0.0:9464", "0.0.0.0", false, 9464},
      {"127.0.0.1:0", "127.0.0.1", false, 0},
      {"localhost:8080", "127.0.0.1", false, 8080},
      {":9464", "0.0.0.0", false, 9464},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ValidateListenAddress(c.listen), std::nullopt) << c.listen;
    const ListenAddress a = ParseListenAddress(c.listen);
    EXPECT_EQ(a.host, c.host) << c.listen;
    EXPECT_EQ(a.ipv6, c.ipv6) << c.listen;
    EXPECT_EQ(a.port, c.port) << c.listen;
  }
  EXPECT_EQ(ParseListenAddress("localhost:80").ToString(), "127.0.0.1:80");
}

TEST(ListenAddress, Ipv6DependsOnTheHttpServerBuild) {
  if (mg_check_feature(8) != 0) {
    const ListenAddress a = ParseListenAddress("[::1]:9464");
    EXPECT_EQ(a.host, "::1");
    EXPECT_TRUE(a.ipv6);
    EXPECT_EQ(a.port, 9464);
    EXPECT_EQ(a.ToString(), "[::1]:9464");
    EXPECT_EQ(ValidateListenAddress("[::]:65535"), std::nullopt);
  } else {
    EXPECT_EQ(ValidateListenAddress("[::1]:9464"),
              "listen address \"[::1]:9464\" is IPv6, which this build's HTTP "
              "server (civetweb without IPv6) cannot serve; use an IPv4 "
              "address such as 0.0.0.0:9464");
  }
  // Malformed IPv6 is reported as such either way.
  EXPECT_EQ(ValidateListenAddress("[1.2.3.4]:80"),
            "listen address \"[1.2.3.4]:80\" has \"1.2.3.4\" in brackets, "
            "which is not an IPv6 address");
}

TEST(ListenAddress, InvalidAddressesHaveMessages) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"",
       "listen address \"\" is empty; expected host:port, e.g. "
       "0.0.0.0:9464"},
      {"abc",
       "listen address \"abc\" has no port; expected host:port, e.g. "
       "0.0.0.0:9464"},
      {":99999",
       "listen address \":99999\" port \"99999\" is not a number in "
       "0..65535"},
      {"1.2.3.4:", "listen address \"1.2.3.4:\" port is missing after ':'"},
      {"1.2.3.4:http",
       "listen address \"1.2.3.4:http\" port \"http\" is not "
       "a number in 0..65535"},
      {"1.2.3.4:-1",
       "listen address \"1.2.3.4:-1\" port \"-1\" is not a "
       "number in 0..65535"},
      {"1.2.3:80",
       "listen address \"1.2.3:80\" host \"1.2.3\" is not an IPv4 "
       "address, a bracketed IPv6 address or localhost"},
      {"example.com:80",
       "listen address \"example.com:80\" host \"example.com\" is not an IPv4 "
       "address, a bracketed IPv6 address or localhost"},
      {"::1:80",
       "listen address \"::1:80\" IPv6 addresses must be in "
       "brackets, e.g. [::1]:9464"},
      {"[::1", "listen address \"[::1\" has '[' without ']'"},
      {"[::1]80", "listen address \"[::1]80\" expected ':port' after ']'"},
  };
  for (const auto& [listen, message] : cases) {
    EXPECT_EQ(ValidateListenAddress(listen), message) << listen;
    EXPECT_THROW(ParseListenAddress(listen), std::invalid_argument) << listen;
  }
}

}  // namespace
}  // namespace sightline::metrics
