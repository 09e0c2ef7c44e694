#include "alerts/slack.h"


#include "alerts/http.h"

namespace sightline::alerts {
namespace {

std::string Color(const Alert& a) {
  if (a.kind == AlertKind::kResolved) return "#2eb886";
  if (a.kind == AlertKind::kTest) return "#439fe0";
  switch (a.severity) {
    case Severity::kCritical:
      return "#a30200";
    case Severity::kError:
      return "#e01e5a";
    default:
      return "#daa038";
  }
}

nlohmann::json Field(const std::string& title, const std::string& value) {
  return {{"title", title}, {"value", value}, {"short", true}};
}

class SlackChannel : public Channel {
 public:
  SlackChannel(std::string url, std::string channel)
      : url_(std::move(url)), channel_(std::move(channel)) {}
  std::string_view name() const override { return "slack"; }
  DeliveryResult Send(const Alert& a) override {
    return PostJson(url_, SlackPayload(a, channel_).dump());
  }

 private:
  std::string url_, channel_;
};

}  // namespace

nlohmann::json SlackPayload(const Alert& a, const std::string& channel) {
  nlohmann::json fields = nlohmann::json::array();
  fields.push_back(Field("Severity", std::string(SeverityName(a.severity))));
  fields.push_back(Field("Service", a.service.empty() ? "(node)" : a.service));
  for (const auto& [title, value] : a.PodFields()) fields.push_back(Field(title, value));
  fields.push_back(Field("Metric", a.metric));
  fields.push_back(Field("Value", FormatValue(a.value)));
  if (a.kind != AlertKind::kResolved && a.kind != AlertKind::kTest) {
    fields.push_back(
        Field("Threshold", std::string(ComparisonSymbol(a.comparison)) + " " + FormatValue(a.threshold)));
  }
  fields.push_back(Field("Host", a.host));
  nlohmann::json attachment = {{"color", Color(a)},     {"title", a.alertname},
                               {"text", a.Summary()},   {"fields", fields},
                               {"footer", "sightline"}, {"ts", a.at_ms / 1000}};
  nlohmann::json msg = {{"username", "sightline"},
                        {"text", "[" + std::string(a.StatusWord()) + "] " + a.Summary()},
                        {"attachments", nlohmann::json::array({attachment})}};
  if (!channel.empty()) msg["channel"] = channel;
  return msg;
}

std::unique_ptr<Channel> MakeSlackChannel(std::string webhook_url, std::string channel) {
  return std::make_unique<SlackChannel>(std::move(webhook_url), std::move(channel));
}

}  // namespace sightline::alerts
