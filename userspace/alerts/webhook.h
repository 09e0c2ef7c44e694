// A generic JSON webhook (ALERT_WEBHOOK_URL): one flat object per
// notification, for anything that takes JSON over HTTP.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "alerts/notifier.h"

namespace sightline::alerts {

nlohmann::json WebhookPayload(const Alert& a);

std::unique_ptr<Channel> MakeWebhookChannel(std::string url);

}  // namespace sightline::alerts
