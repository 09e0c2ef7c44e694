// Slack incoming webhook (SLACK_WEBHOOK_URL, optional SLACK_CHANNEL).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "alerts/notifier.h"

namespace sightline::alerts {

// The message: a one-line text and an attachment coloured by severity with
// one field per fact.
nlohmann::json SlackPayload(const Alert& a, const std::string& channel);

std::unique_ptr<Channel> MakeSlackChannel(std::string webhook_url, std::string channel);

}  // namespace sightline::alerts
