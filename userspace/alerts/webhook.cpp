#include "alerts/webhook.h"

#include "alerts/http.h"

namespace sightline::alerts {
namespace {

// NaN (no data in the window) as JSON null, explicitly.
nlohmann::json Number(double v) { return v == v ? nlohmann::json(v) : nlohmann::json(nullptr); }

class WebhookChannel : public Channel {
 public:
  explicit WebhookChannel(std::string url) : url_(std::move(url)) {}
  std::string_view name() const override { return "webhook"; }
  DeliveryResult Send(const Alert& a) override { return PostJson(url_, WebhookPayload(a).dump()); }

 private:
  std::string url_;
};

}  // namespace

nlohmann::json WebhookPayload(const Alert& a) {
  nlohmann::json j = {{"version", "1"},
                      {"source", "sightline"},
                      {"status", a.resolved() ? "resolved" : "firing"},
                      {"kind", std::string(AlertKindName(a.kind))},
                      {"alertname", a.alertname},
                      {"severity", std::string(SeverityName(a.severity))},
                      {"metric_name", a.metric},
                      {"service_name", a.service},
                      {"value", Number(a.value)},  // null when the window had no data
                      {"threshold", Number(a.threshold)},
                      {"comparison", std::string(ComparisonName(a.comparison))},
                      {"window_seconds", a.window_seconds},
                      {"summary", a.Summary()},
                      {"starts_at", Rfc3339(a.since_ms())},
                      {"at", Rfc3339(a.at_ms)},
                      {"dedup_key", a.DedupKey()},
                      {"host", a.host}};
  for (const auto& [name, value] : a.PodLabels()) j[name] = value;
  if (a.previous != Severity::kNone) j["previous_severity"] = std::string(SeverityName(a.previous));
  return j;
}

std::unique_ptr<Channel> MakeWebhookChannel(std::string url) {
  return std::make_unique<WebhookChannel>(std::move(url));
}

}  // namespace sightline::alerts
