// One HTTP POST with libcurl, for the webhook-style channels: bounded time,
// no redirects, http and https only, and the answer turned into a delivery
// result (2xx ok; 429, 5xx and network errors retryable, with Retry-After).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "alerts/notifier.h"

namespace sightline::alerts {

struct HttpPost {
  std::string url;
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  long timeout_ms = 10000;
};

DeliveryResult Post(const HttpPost& request);
// A JSON body to `url` with the default headers and timeout.
DeliveryResult PostJson(const std::string& url, std::string body);

// Unix ms as RFC 3339 in UTC with milliseconds, e.g. 2026-11-24T04:40:00.123Z.
std::string Rfc3339(int64_t unix_ms);

// Unix seconds now, for Retry-After dates.
int64_t UnixNow();

}  // namespace sightline::alerts
