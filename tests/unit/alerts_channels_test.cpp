// What each channel sends, field by field, and which channels the
// environment configures.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "alerts/alertmanager.h"
#include "alerts/channels.h"
#include "alerts/pagerduty.h"
#include "alerts/slack.h"
#include "alerts/smtp.h"
#include "alerts/webhook.h"

namespace sightline::alerts {
namespace {

using nlohmann::json;

Alert Firing() {
  Alert a;
  a.kind = AlertKind::kFiring;
  a.alertname = "HighHttpErrorRate";
  a.metric = "http_error_rate";
  a.service = "checkout";
  a.severity = Severity::kError;
  a.value = 0.3;
  a.threshold = 0.1;
  a.window_seconds = 60;
  a.starts_at_ms = 1'700'000'000'000;
  a.at_ms = 1'700'000'000'000;
  a.repeat_after_seconds = 300;
  a.host = "node1";
  return a;
}

TEST(AlertsChannels, SlackMessage) {
  const json j = SlackPayload(Firing(), "#alerts");
  const json expected = json::parse(R"J({
    "channel": "#alerts",
    "username": "sightline",
    "text": "[FIRING] HighHttpErrorRate error: http_error_rate 0.3 > 0.1 over 60s (service checkout)",
    "attachments": [{
      "color": "#e01e5a",
      "title": "HighHttpErrorRate",
      "text": "HighHttpErrorRate error: http_error_rate 0.3 > 0.1 over 60s (service checkout)",
      "fields": [
        {"title": "Severity", "value": "error", "short": true},
        {"title": "Service", "value": "checkout", "short": true},
        {"title": "Metric", "value": "http_error_rate", "short": true},
        {"title": "Value", "value": "0.3", "short": true},
        {"title": "Threshold", "value": "> 0.1", "short": true},
        {"title": "Host", "value": "node1", "short": true}
      ],
      "footer": "sightline",
      "ts": 1700000000
    }]
  })J");
  EXPECT_EQ(j, expected) << j.dump(2);
  Alert r = Firing();
  r.kind = AlertKind::kResolved;
  r.value = 0.01;
  const json resolved = SlackPayload(r, "");
  EXPECT_FALSE(resolved.contains("channel"));
  EXPECT_EQ(resolved["text"],
            "[RESOLVED] HighHttpErrorRate resolved: http_error_rate 0.01 (service checkout)");
  EXPECT_EQ(resolved["attachments"][0]["color"], "#2eb886");
}

TEST(AlertsChannels, PagerDutyTriggerAndResolveShareTheDedupKey) {
  const json t = PagerDutyEvent(Firing(), "KEY", false);
  const json expected = json::parse(R"J({
    "routing_key": "KEY",
    "event_action": "trigger",
    "dedup_key": "sightline/node1/HighHttpErrorRate/checkout",
    "client": "sightline",
    "payload": {
      "summary": "HighHttpErrorRate error: http_error_rate 0.3 > 0.1 over 60s (service checkout)",
      "source": "node1",
      "severity": "error",
      "timestamp": "2023-11-14T22:13:20.000Z",
      "class": "http_error_rate",
      "group": "HighHttpErrorRate",
      "component": "checkout",
      "custom_details": {"metric_name": "http_error_rate", "value": 0.3, "threshold": 0.1,
                         "comparison": "gt", "window_seconds": 60, "kind": "firing"}
    }
  })J");
  EXPECT_EQ(t, expected) << t.dump(2);
  Alert r = Firing();
  r.kind = AlertKind::kResolved;
  EXPECT_EQ(PagerDutyEvent(r, "KEY", false),
            json::parse(R"({"routing_key": "KEY", "event_action": "resolve",
                            "dedup_key": "sightline/node1/HighHttpErrorRate/checkout"})"));
}

TEST(AlertsChannels, AlertmanagerFiringEndsPastTheNextRepeat) {
  const json j = AlertmanagerPayload(Firing());
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["labels"], json::parse(R"({"alertname": "HighHttpErrorRate",
      "severity": "error", "metric_name": "http_error_rate", "instance": "node1",
      "source": "sightline", "service_name": "checkout"})"));
  EXPECT_EQ(j[0]["startsAt"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(j[0]["endsAt"], "2023-11-14T22:20:20.000Z");  // + 300 s + 120 s
  EXPECT_EQ(j[0]["annotations"]["value"], "0.3");
  EXPECT_EQ(j[0]["annotations"]["threshold"], "> 0.1");

  Alert up = Firing();
  up.severity = Severity::kCritical;
  up.previous = Severity::kError;
  up.at_ms += 5000;
  const json esc = AlertmanagerPayload(up);
  ASSERT_EQ(esc.size(), 2u);  // the error-level alert ends now
  EXPECT_EQ(esc[1]["labels"]["severity"], "error");
  EXPECT_EQ(esc[1]["endsAt"], "2023-11-14T22:13:25.000Z");

  Alert r = Firing();
  r.kind = AlertKind::kResolved;
  r.at_ms += 61'000;
  const json res = AlertmanagerPayload(r);
  EXPECT_EQ(res[0]["endsAt"], "2023-11-14T22:14:21.000Z");
  EXPECT_EQ(res[0]["startsAt"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(AlertmanagerEndpoint("http://127.0.0.1:9093"), "http://127.0.0.1:9093/api/v2/alerts");
  EXPECT_EQ(AlertmanagerEndpoint("http://am/"), "http://am/api/v2/alerts");
  EXPECT_EQ(AlertmanagerEndpoint("http://am/api/v2/alerts"), "http://am/api/v2/alerts");
}

TEST(AlertsChannels, WebhookObject) {
  Alert a = Firing();
  a.kind = AlertKind::kResolved;
  a.value = std::nan("");
  const json j = WebhookPayload(a);
  EXPECT_EQ(j["status"], "resolved");
  EXPECT_EQ(j["kind"], "resolved");
  EXPECT_TRUE(j["value"].is_null());
  EXPECT_EQ(j["dedup_key"], "sightline/node1/HighHttpErrorRate/checkout");
  EXPECT_EQ(j["service_name"], "checkout");
  EXPECT_FALSE(j.contains("previous_severity"));
}

TEST(AlertsChannels, EmailMessage) {
  SmtpConfig c;
  c.host = "mail";
  c.from = "alerts@example.com";
  c.to = {"team@example.com", "oncall@example.com"};
  Alert a = Firing();
  a.alertname = "Evil\r\nBcc: x@example.com";
  const std::string m = EmailMessage(a, c, "<1@sightline>");
  EXPECT_NE(m.find("Subject: [sightline] FIRING error Evil  Bcc: x@example.com (checkout)\r\n"),
            std::string::npos)
      << m;
  const std::string head = m.substr(0, m.find("\r\n\r\n"));
  EXPECT_EQ(head.find("\r\nBcc:"), std::string::npos);
  EXPECT_NE(m.find("To: team@example.com, oncall@example.com\r\n"), std::string::npos);
  EXPECT_NE(m.find("Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"), std::string::npos);
  EXPECT_NE(m.find("\r\n\r\nEvil"), std::string::npos);
  EXPECT_EQ(SmtpUrl(c), "smtp://mail:587");
  c.port = 465;
  EXPECT_EQ(SmtpUrl(c), "smtps://mail:465");
  c.tls = false;
  EXPECT_EQ(SmtpUrl(c), "smtp://mail:465");
}

Env FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::vector<std::string> Names(const std::vector<std::unique_ptr<Channel>>& cs) {
  std::vector<std::string> out;
  for (const auto& c : cs) out.emplace_back(c->name());
  return out;
}

TEST(AlertsChannels, ChannelsFromTheBriefsVariables) {
  std::string error;
  auto all = ChannelsFromEnv(FakeEnv({{"SMTP_HOST", "smtp.example.com"},
                                      {"SMTP_PORT", "587"},
                                      {"SMTP_USER", "alerts@example.com"},
                                      {"SMTP_PASSWORD", "secret"},
                                      {"SMTP_USE_TLS", "true"},
                                      {"ALERT_EMAIL_FROM", "alerts@example.com"},
                                      {"ALERT_EMAIL_TO", "team@example.com,oncall@example.com"},
                                      {"SLACK_WEBHOOK_URL", "https://hooks.slack.com/x"},
                                      {"SLACK_CHANNEL", "#alerts"},
                                      {"PAGERDUTY_INTEGRATION_KEY", "key"},
                                      {"ALERTMANAGER_URL", "http://127.0.0.1:9093"},
                                      {"ALERT_WEBHOOK_URL", "http://127.0.0.1:8080/hook"}}),
                             &error);
  ASSERT_TRUE(all) << error;
  EXPECT_EQ(Names(*all),
            std::vector<std::string>({"email", "slack", "pagerduty", "alertmanager", "webhook"}));
  auto none = ChannelsFromEnv(FakeEnv({}), &error);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());

  EXPECT_FALSE(ChannelsFromEnv(FakeEnv({{"SMTP_HOST", "h"}, {"ALERT_EMAIL_FROM", "a@b"}}), &error));
  EXPECT_EQ(error, "ALERT_EMAIL_TO: needed with SMTP_HOST (comma-separated recipients)");
  EXPECT_FALSE(ChannelsFromEnv(
      FakeEnv({{"SMTP_HOST", "h"}, {"ALERT_EMAIL_TO", "a@b"}, {"SMTP_USE_TLS", "maybe"}}), &error));
  EXPECT_EQ(error, "SMTP_USE_TLS: 'maybe' is not true or false");
  EXPECT_FALSE(ChannelsFromEnv(FakeEnv({{"SLACK_WEBHOOK_URL", "file:///etc/passwd"}}), &error));
  EXPECT_EQ(error, "SLACK_WEBHOOK_URL: 'file:///etc/passwd' is not an http:// or https:// URL");
  EXPECT_FALSE(ChannelsFromEnv(FakeEnv({{"PAGERDUTY_EVENTS_URL", "http://x"}}), &error));
  EXPECT_EQ(error, "PAGERDUTY_EVENTS_URL: set without PAGERDUTY_INTEGRATION_KEY");
}

TEST(AlertsChannels, AlertTestWithNothingConfiguredExitsTwo) {
  char out[256] = {}, err[512] = {};
  std::FILE* o = fmemopen(out, sizeof out, "w");
  std::FILE* e = fmemopen(err, sizeof err, "w");
  EXPECT_EQ(RunAlertTest(FakeEnv({}), "node1", o, e), 2);
  std::fclose(o);
  std::fclose(e);
  EXPECT_NE(std::string(err).find("no alert channel configured"), std::string::npos);
}

TEST(AlertsChannels, AlertTestReportsAFailedChannel) {
  char out[512] = {}, err[256] = {};
  std::FILE* o = fmemopen(out, sizeof out, "w");
  std::FILE* e = fmemopen(err, sizeof err, "w");
  // Port 1 on loopback: connection refused, a network error, retried twice.
  EXPECT_EQ(
      RunAlertTest(FakeEnv({{"ALERT_WEBHOOK_URL", "http://127.0.0.1:1/hook"}}), "node1", o, e), 1);
  std::fclose(o);
  std::fclose(e);
  EXPECT_EQ(std::string(out).rfind("webhook: failed after 3 attempts: ", 0), 0u) << out;
}

}  // namespace
}  // namespace sightline::alerts
