// Prometheus Alertmanager, API v2 (ALERTMANAGER_URL, the base URL): POST
// /api/v2/alerts. A firing alert is posted with an endsAt past its next
// repeat, so Alertmanager keeps it active exactly as long as sightline
// refreshes it; a resolve posts endsAt = now.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "alerts/notifier.h"

namespace sightline::alerts {

// The request body: a list with this alert and, when its level changed, the
// old level's alert ended now (severity is one of its labels).
nlohmann::json AlertmanagerPayload(const Alert& a);

// `url` with /api/v2/alerts appended unless it already ends so.
std::string AlertmanagerEndpoint(const std::string& url);

std::unique_ptr<Channel> MakeAlertmanagerChannel(std::string url);

}  // namespace sightline::alerts
