#include "alerts/alertmanager.h"

#include <cmath>

#include "alerts/http.h"

namespace sightline::alerts {
namespace {

// Slack for the repeat to arrive after the cooldown: the engine runs once a
// second and the queue may hold it briefly.
constexpr int64_t kRefreshMarginMs = 120'000;
constexpr int64_t kTestLifetimeMs = 300'000;

nlohmann::json One(const Alert& a, Severity severity, int64_t ends_at_ms) {
  nlohmann::json labels = {
      {"alertname", a.alertname},
      {"severity",
       a.kind == AlertKind::kTest ? std::string("info") : std::string(SeverityName(severity))},
      {"metric_name", a.metric},
      {"instance", a.host},
      {"source", "sightline"}};
  if (!a.service.empty()) labels["service_name"] = a.service;
  for (const auto& [name, value] : a.PodLabels()) labels[name] = value;
  nlohmann::json annotations = {{"summary", a.Summary()}};
  if (!std::isnan(a.value)) annotations["value"] = FormatValue(a.value);
  if (!std::isnan(a.threshold)) {
    annotations["threshold"] =
        std::string(ComparisonSymbol(a.comparison)) + " " + FormatValue(a.threshold);
  }
  return {{"labels", labels},
          {"annotations", annotations},
          {"startsAt", Rfc3339(a.since_ms())},
          {"endsAt", Rfc3339(ends_at_ms)}};
}

class AlertmanagerChannel : public Channel {
 public:
  explicit AlertmanagerChannel(std::string url) : url_(AlertmanagerEndpoint(url)) {}
  std::string_view name() const override { return "alertmanager"; }
  DeliveryResult Send(const Alert& a) override {
    return PostJson(url_, AlertmanagerPayload(a).dump());
  }

 private:
  std::string url_;
};

}  // namespace

nlohmann::json AlertmanagerPayload(const Alert& a) {
  nlohmann::json list = nlohmann::json::array();
  switch (a.kind) {
    case AlertKind::kResolved:
      list.push_back(One(a, a.severity, a.at_ms));
      break;
    case AlertKind::kTest:
      list.push_back(One(a, a.severity, a.at_ms + kTestLifetimeMs));
      break;
    default:
      list.push_back(
          One(a, a.severity, a.at_ms + a.repeat_after_seconds * 1000 + kRefreshMarginMs));
      if (a.previous != Severity::kNone && a.previous != a.severity) {
        list.push_back(One(a, a.previous, a.at_ms));
      }
  }
  return list;
}

std::string AlertmanagerEndpoint(const std::string& url) {
  constexpr std::string_view kPath = "/api/v2/alerts";
  if (url.ends_with(kPath)) return url;
  return (url.ends_with("/") ? url.substr(0, url.size() - 1) : url) + std::string(kPath);
}

std::unique_ptr<Channel> MakeAlertmanagerChannel(std::string url) {
  return std::make_unique<AlertmanagerChannel>(std::move(url));
}

}  // namespace sightline::alerts
