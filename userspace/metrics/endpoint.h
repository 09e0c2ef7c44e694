// The daemon's HTTP endpoints: /metrics (Prometheus text format) and
// /healthz. Served by civetweb with two worker threads; a scrape collects
// every registered collectable at request time.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "prometheus/collectable.h"

struct mg_connection;
struct mg_context;

namespace sightline::metrics {

// A parsed listen address. `host` is an IPv4 or IPv6 literal (no brackets).
struct ListenAddress {
  std::string host;
  bool ipv6 = false;
  uint16_t port = 0;  // 0 asks the kernel for a free port

  // "host:port", or "[v6]:port".
  std::string ToString() const;
};

// Returns why `listen` is not a usable listen address, or nullopt. Accepted:
// "a.b.c.d:port", "localhost:port" (127.0.0.1), ":port" (all IPv4
// interfaces) and "[v6]:port" when the linked civetweb supports IPv6 (the
// Debian build does not); port is 0..65535.
std::optional<std::string> ValidateListenAddress(std::string_view listen);

// Parses a listen address; throws std::invalid_argument with
// ValidateListenAddress's message when it is not valid.
ListenAddress ParseListenAddress(std::string_view listen);

class HttpEndpoint {
 public:
  static constexpr std::string_view kMetricsContentType =
      "text/plain; version=0.0.4; charset=utf-8";

  // Starts serving on `listen` ("host:port", see ValidateListenAddress).
  // Collectables that have expired are skipped at scrape time. `healthy`
  // decides /healthz and is called from server threads. Throws
  // std::runtime_error naming the address if it cannot bind.
  HttpEndpoint(const std::string& listen,
               std::vector<std::weak_ptr<prometheus::Collectable>> collectables,
               std::function<bool()> healthy);
  ~HttpEndpoint();  // stops the server and waits for its threads

  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // The bound port (the kernel's choice when listen used port 0).
  uint16_t port() const { return port_; }

 private:
  static int OnRequest(mg_connection* conn);
  static int OnLog(const mg_connection* conn, const char* message);

  void ServeMetrics(mg_connection* conn, bool head);
  std::string RenderMetrics();

  const std::vector<std::weak_ptr<prometheus::Collectable>> collectables_;
  const std::function<bool()> healthy_;
  std::atomic<uint64_t> scrapes_{0};
  // Until the server runs, civetweb's messages explain a failed start and
  // go into the exception instead of the log.
  std::atomic<bool> started_{false};
  std::mutex startup_mutex_;
  std::string startup_messages_;
  mg_context* ctx_ = nullptr;
  uint16_t port_ = 0;
};

}  // namespace sightline::metrics
