#include "alerts/pagerduty.h"

#include "alerts/http.h"

namespace sightline::alerts {
namespace {

// NaN (no data in the window) as JSON null, explicitly.
nlohmann::json Number(double v) { return v == v ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string PdSeverity(const Alert& a) {
  if (a.kind == AlertKind::kTest) return "info";
  return std::string(SeverityName(a.severity));  // warning, error, critical: PagerDuty's own
}

class PagerDutyChannel : public Channel {
 public:
  PagerDutyChannel(std::string key, std::string url) : key_(std::move(key)), url_(std::move(url)) {}
  std::string_view name() const override { return "pagerduty"; }
  DeliveryResult Send(const Alert& a) override {
    DeliveryResult r = PostJson(url_, PagerDutyEvent(a, key_, false).dump());
    if (!r.ok || a.kind != AlertKind::kTest) return r;
    return PostJson(url_, PagerDutyEvent(a, key_, true).dump());
  }

 private:
  std::string key_, url_;
};

}  // namespace

nlohmann::json PagerDutyEvent(const Alert& a, const std::string& routing_key, bool resolve) {
  const std::string dedup = a.DedupKey();
  if (resolve || a.kind == AlertKind::kResolved) {
    return {{"routing_key", routing_key}, {"event_action", "resolve"}, {"dedup_key", dedup}};
  }
  std::string summary = a.Summary();
  if (summary.size() > 1024) summary.resize(1024);  // the API's limit
  nlohmann::json details = {{"metric_name", a.metric},
                            {"value", Number(a.value)},
                            {"threshold", Number(a.threshold)},
                            {"comparison", std::string(ComparisonName(a.comparison))},
                            {"window_seconds", a.window_seconds},
                            {"kind", std::string(AlertKindName(a.kind))}};
  nlohmann::json payload = {{"summary", summary},        {"source", a.host},
                            {"severity", PdSeverity(a)}, {"timestamp", Rfc3339(a.at_ms)},
                            {"class", a.metric},         {"group", a.alertname},
                            {"custom_details", details}};
  if (!a.service.empty()) payload["component"] = a.service;
  for (const auto& [name, value] : a.PodLabels()) payload["custom_details"][name] = value;
  return {{"routing_key", routing_key},
          {"event_action", "trigger"},
          {"dedup_key", dedup},
          {"client", "sightline"},
          {"payload", payload}};
}

std::unique_ptr<Channel> MakePagerDutyChannel(std::string routing_key, std::string url) {
  return std::make_unique<PagerDutyChannel>(std::move(routing_key),
                                            url.empty() ? kPagerDutyEventsUrl : std::move(url));
}

}  // namespace sightline::alerts
