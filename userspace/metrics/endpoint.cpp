#include "metrics/endpoint.h"

#include <arpa/inet.h>
#include <civetweb.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <mutex>
#include <stdexcept>

#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"
#include "spdlog/spdlog.h"

namespace sightline::metrics {
namespace {

constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

std::optional<std::string> CheckHost(std::string_view host, bool ipv6) {
  const std::string copy(host);
  if (ipv6) {
    in6_addr a6{};
    if (inet_pton(AF_INET6, copy.c_str(), &a6) == 1) return std::nullopt;
    return "has \"" + copy + "\" in brackets, which is not an IPv6 address";
  }
  if (host.find(':') != std::string_view::npos) {
    return "IPv6 addresses must be in brackets, e.g. [::1]:9464";
  }
  in_addr a4{};
  if (inet_pton(AF_INET, copy.c_str(), &a4) == 1) return std::nullopt;
  return "host \"" + copy +
         "\" is not an IPv4 address, a bracketed IPv6 address or localhost";
}

std::optional<std::string> CheckPort(std::string_view text, uint16_t* port) {
  unsigned value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty()) return "port is missing after ':'";
  if (text.size() > 5 || ec != std::errc() || ptr != end || value > 65535) {
    return "port \"" + std::string(text) + "\" is not a number in 0..65535";
  }
  *port = static_cast<uint16_t>(value);
  return std::nullopt;
}

std::optional<std::string> Parse(std::string_view listen, ListenAddress* out) {
  if (listen.empty()) return "is empty; expected host:port, e.g. 0.0.0.0:9464";
  std::string_view host;
  std::string_view port;
  if (listen.front() == '[') {
    const std::size_t close = listen.find(']');
    if (close == std::string_view::npos) return "has '[' without ']'";
    if (close + 1 >= listen.size() || listen[close + 1] != ':') {
      return "expected ':port' after ']'";
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
    out->ipv6 = true;
  } else {
    const std::size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) {
      return "has no port; expected host:port, e.g. 0.0.0.0:9464";
    }
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    out->ipv6 = false;
  }
  if (out->ipv6 && mg_check_feature(8) == 0) {
    if (auto error = CheckHost(host, true)) return error;
    return "is IPv6, which this build's HTTP server (civetweb without IPv6) "
           "cannot serve; use an IPv4 address such as 0.0.0.0:9464";
  }
  if (!out->ipv6 && host.empty()) host = "0.0.0.0";
  if (!out->ipv6 && host == "localhost") host = "127.0.0.1";
  if (auto error = CheckHost(host, out->ipv6)) return error;
  if (auto error = CheckPort(port, &out->port)) return error;
  out->host = std::string(host);
  return std::nullopt;
}

std::string Described(std::string_view listen, const std::string& error) {
  return "listen address \"" + std::string(listen) + "\" " + error;
}

void Send(mg_connection* conn, int status, std::string_view content_type,
          std::string_view body, bool head,
          std::string_view extra_headers = {}) {
  std::string header = "HTTP/1.1 " + std::to_string(status) + " " +
                       mg_get_response_code_text(conn, status) + "\r\n";
  header.append("Content-Type: ").append(content_type).append("\r\n");
  header.append("Content-Length: ")
      .append(std::to_string(body.size()))
      .append("\r\n");
  header.append("Cache-Control: no-store\r\nConnection: close\r\n");
  header.append(extra_headers);
  header.append("\r\n");
  mg_write(conn, header.data(), header.size());
  if (!head && !body.empty()) mg_write(conn, body.data(), body.size());
}

}  // namespace

std::string ListenAddress::ToString() const {
  const std::string p = std::to_string(port);
  return ipv6 ? "[" + host + "]:" + p : host + ":" + p;
}

std::optional<std::string> ValidateListenAddress(std::string_view listen) {
  ListenAddress parsed;
  if (auto error = Parse(listen, &parsed)) return Described(listen, *error);
  return std::nullopt;
}

ListenAddress ParseListenAddress(std::string_view listen) {
  ListenAddress parsed;
  if (auto error = Parse(listen, &parsed)) {
    throw std::invalid_argument(Described(listen, *error));
  }
  return parsed;
}

HttpEndpoint::HttpEndpoint(
    const std::string& listen,
    std::vector<std::weak_ptr<prometheus::Collectable>> collectables,
    std::function<bool()> healthy)
    : collectables_(std::move(collectables)), healthy_(std::move(healthy)) {
  ListenAddress address;
  if (auto error = Parse(listen, &address)) {
    throw std::runtime_error("cannot serve HTTP: " + Described(listen, *error));
  }
  // The library's global state is set up once per process and kept.
  static std::once_flag init_once;
  std::call_once(init_once, [] { mg_init_library(0); });

  const std::string ports = address.ToString();
  const char* options[] = {"listening_ports",
                           ports.c_str(),
                           "num_threads",
                           "2",
                           "request_timeout_ms",
                           "10000",
                           "enable_keep_alive",
                           "no",
                           nullptr};
  mg_callbacks callbacks{};
  callbacks.begin_request = &HttpEndpoint::OnRequest;
  callbacks.log_message = &HttpEndpoint::OnLog;
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = options;
  char text[256] = {};
  unsigned code = 0;
  mg_error_data error{};
  error.code = &code;
  error.text = text;
  error.text_buffer_size = sizeof(text);

  ctx_ = mg_start2(&init, &error);
  if (ctx_ == nullptr) {
    std::string why;
    {
      std::lock_guard lock(startup_mutex_);
      why = startup_messages_;
    }
    if (why.find(text) == std::string::npos) {
      why += (why.empty() ? "" : "; ") + std::string(text);
    }
    if (why.empty()) why = "the HTTP server failed to start";
    std::string where = "\"" + listen + "\"";
    if (ports != listen) where += " (" + ports + ")";
    throw std::runtime_error("cannot listen on " + where + ": " + why);
  }
  started_ = true;
  mg_server_port bound[4] = {};
  const int n = mg_get_server_ports(ctx_, 4, bound);
  port_ = n > 0 ? static_cast<uint16_t>(bound[0].port) : address.port;
}

HttpEndpoint::~HttpEndpoint() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

int HttpEndpoint::OnLog(const mg_connection* conn, const char* message) {
  std::string_view text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  const mg_context* ctx = conn != nullptr ? mg_get_context(conn) : nullptr;
  auto* self = ctx != nullptr
                   ? static_cast<HttpEndpoint*>(mg_get_user_data(ctx))
                   : nullptr;
  if (self != nullptr && !self->started_) {
    std::lock_guard lock(self->startup_mutex_);
    if (!self->startup_messages_.empty()) self->startup_messages_ += "; ";
    self->startup_messages_ += text;
    return 1;
  }
  spdlog::warn("http endpoint: {}", text);
  return 1;  // handled; keep civetweb from printing it too
}

int HttpEndpoint::OnRequest(mg_connection* conn) {
  auto* self =
      static_cast<HttpEndpoint*>(mg_get_user_data(mg_get_context(conn)));
  const mg_request_info* info = mg_get_request_info(conn);
  const std::string_view path =
      info->local_uri != nullptr ? info->local_uri : "";
  const std::string_view method =
      info->request_method != nullptr ? info->request_method : "";
  const bool head = method == "HEAD";
  const bool get = head || method == "GET";
  constexpr std::string_view kAllow = "Allow: GET, HEAD\r\n";
  try {
    if (path == "/metrics") {
      if (!get) {
        Send(conn, 405, kTextContentType, "method not allowed\n", false,
             kAllow);
        return 405;
      }
      self->ServeMetrics(conn, head);
      return 200;
    }
    if (path == "/healthz") {
      if (!get) {
        Send(conn, 405, kTextContentType, "method not allowed\n", false,
             kAllow);
        return 405;
      }
      if (self->healthy_()) {
        Send(conn, 200, kTextContentType, "ok\n", head);
        return 200;
      }
      Send(conn, 503, kTextContentType, "unavailable\n", head);
      return 503;
    }
    Send(conn, 404, kTextContentType, "not found\n", head);
    return 404;
  } catch (const std::exception& e) {
    spdlog::error("http endpoint: {} {} failed: {}", method, path, e.what());
    Send(conn, 500, kTextContentType, "internal error\n", head);
    return 500;
  }
}

void HttpEndpoint::ServeMetrics(mg_connection* conn, bool head) {
  const std::string body = RenderMetrics();
  Send(conn, 200, kMetricsContentType, body, head);
}

std::string HttpEndpoint::RenderMetrics() {
  const uint64_t scrapes = ++scrapes_;
  std::vector<prometheus::MetricFamily> families;
  for (const auto& weak : collectables_) {
    if (const auto collectable = weak.lock()) {
      auto collected = collectable->Collect();
      std::move(collected.begin(), collected.end(),
                std::back_inserter(families));
    }
  }
  prometheus::MetricFamily self;
  self.name = "sightline_scrapes_total";
  self.help = "Requests served on /metrics, this one included.";
  self.type = prometheus::MetricType::Counter;
  self.metric.emplace_back().counter.value = static_cast<double>(scrapes);
  families.push_back(std::move(self));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace sightline::metrics
