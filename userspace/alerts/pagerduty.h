// PagerDuty Events API v2 (PAGERDUTY_INTEGRATION_KEY; PAGERDUTY_EVENTS_URL
// overrides the endpoint): trigger on firing, resolve on recovery, one
// stable dedup_key per alert so repeats update the same incident.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "alerts/notifier.h"

namespace sightline::alerts {

inline constexpr const char* kPagerDutyEventsUrl = "https://events.pagerduty.com/v2/enqueue";

// The event for `a`; `resolve` forces a resolve event (a test alert is
// triggered, then resolved, so it leaves no open incident).
nlohmann::json PagerDutyEvent(const Alert& a, const std::string& routing_key, bool resolve);

std::unique_ptr<Channel> MakePagerDutyChannel(std::string routing_key, std::string url);

}  // namespace sightline::alerts
