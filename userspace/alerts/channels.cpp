#include "alerts/channels.h"

#include <curl/curl.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "alerts/alertmanager.h"
#include "alerts/http.h"
#include "alerts/pagerduty.h"
#include "alerts/slack.h"
#include "alerts/smtp.h"
#include "alerts/webhook.h"

namespace sightline::alerts {
namespace {

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string item = s.substr(start, end - start);
    const size_t a = item.find_first_not_of(" \t");
    const size_t b = item.find_last_not_of(" \t");
    if (a != std::string::npos) out.push_back(item.substr(a, b - a + 1));
    start = end + 1;
  }
  return out;
}

bool IsHttpUrl(const std::string& u) {
  return u.starts_with("http://") || u.starts_with("https://");
}

}  // namespace

Env ProcessEnv() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "unknown";
  return buf;
}

std::optional<std::vector<std::unique_ptr<Channel>>> ChannelsFromEnv(const Env& env,
                                                                     std::string* error) {
  std::vector<std::unique_ptr<Channel>> out;
  auto url = [&](const char* name) -> std::optional<std::string> {
    auto v = env(name);
    if (v && !IsHttpUrl(*v)) {
      *error = std::string(name) + ": '" + *v + "' is not an http:// or https:// URL";
      return std::string();
    }
    return v;
  };
  if (auto host = env("SMTP_HOST")) {
    SmtpConfig c;
    c.host = *host;
    if (auto port = env("SMTP_PORT")) {
      auto [end, ec] = std::from_chars(port->data(), port->data() + port->size(), c.port);
      if (ec != std::errc() || end != port->data() + port->size() || c.port == 0) {
        *error = "SMTP_PORT: '" + *port + "' is not a port";
        return std::nullopt;
      }
    }
    c.user = env("SMTP_USER").value_or("");
    c.password = env("SMTP_PASSWORD").value_or("");
    if (auto tls = env("SMTP_USE_TLS")) {
      if (*tls == "true" || *tls == "1" || *tls == "yes") {
        c.tls = true;
      } else if (*tls == "false" || *tls == "0" || *tls == "no") {
        c.tls = false;
      } else {
        *error = "SMTP_USE_TLS: '" + *tls + "' is not true or false";
        return std::nullopt;
      }
    }
    c.from = env("ALERT_EMAIL_FROM").value_or(env("SMTP_FROM").value_or(c.user));
    if (c.from.empty()) {
      *error = "ALERT_EMAIL_FROM: needed with SMTP_HOST (the sender address)";
      return std::nullopt;
    }
    c.to = SplitList(env("ALERT_EMAIL_TO").value_or(""));
    if (c.to.empty()) {
      *error = "ALERT_EMAIL_TO: needed with SMTP_HOST (comma-separated recipients)";
      return std::nullopt;
    }
    out.push_back(MakeSmtpChannel(std::move(c)));
  }
  if (auto u = url("SLACK_WEBHOOK_URL")) {
    if (u->empty()) return std::nullopt;
    out.push_back(MakeSlackChannel(*u, env("SLACK_CHANNEL").value_or("")));
  }
  if (auto key = env("PAGERDUTY_INTEGRATION_KEY")) {
    auto u = url("PAGERDUTY_EVENTS_URL");
    if (u && u->empty()) return std::nullopt;
    out.push_back(MakePagerDutyChannel(*key, u.value_or(kPagerDutyEventsUrl)));
  } else if (env("PAGERDUTY_EVENTS_URL")) {
    *error = "PAGERDUTY_EVENTS_URL: set without PAGERDUTY_INTEGRATION_KEY";
    return std::nullopt;
  }
  if (auto u = url("ALERTMANAGER_URL")) {
    if (u->empty()) return std::nullopt;
    out.push_back(MakeAlertmanagerChannel(*u));
  }
  if (auto u = url("ALERT_WEBHOOK_URL")) {
    if (u->empty()) return std::nullopt;
    out.push_back(MakeWebhookChannel(*u));
  }
  return out;
}

int RunAlertTest(const Env& env, const std::string& host, std::FILE* out, std::FILE* err) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::string error;
  auto channels = ChannelsFromEnv(env, &error);
  if (!channels) {
    std::fprintf(err, "sightline: invalid alert channel configuration: %s\n", error.c_str());
    return 2;
  }
  if (channels->empty()) {
    std::fprintf(err,
                 "sightline: no alert channel configured (set SMTP_HOST, SLACK_WEBHOOK_URL, "
                 "PAGERDUTY_INTEGRATION_KEY, ALERTMANAGER_URL or ALERT_WEBHOOK_URL)\n");
    return 2;
  }
  Alert a;
  a.kind = AlertKind::kTest;
  a.alertname = "SightlineTestAlert";
  a.metric = "test";
  a.severity = Severity::kWarning;
  a.value = 1;
  a.threshold = 0;
  a.host = host;
  a.at_ms = UnixNow() * 1000;
  a.starts_at_ms = a.at_ms;
  a.repeat_after_seconds = 300;
  RetryPolicy policy;
  policy.max_attempts = 3;
  policy.max_retry_after_seconds = 10;
  int failed = 0;
  for (auto& c : *channels) {
    const DeliveryOutcome o = Deliver(
        *c, a, policy,
        [](double s) {
          std::this_thread::sleep_for(std::chrono::duration<double>(s));
          return true;
        },
        [] { return 0.5; });
    const std::string name(c->name());
    if (o.ok) {
      std::fprintf(out, "%s: ok\n", name.c_str());
    } else {
      ++failed;
      std::fprintf(out, "%s: failed after %u attempt%s: %s\n", name.c_str(), o.attempts,
                   o.attempts == 1 ? "" : "s", o.last.error.c_str());
    }
  }
  return failed ? 1 : 0;
}

}  // namespace sightline::alerts
