// Which channels are configured, from the environment variables of the
// brief (see README "Alerts"), and `sightline alert test`.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "alerts/notifier.h"

namespace sightline::alerts {

// Reads one environment variable; nullopt when unset.
using Env = std::function<std::optional<std::string>(const char* name)>;
Env ProcessEnv();

// Every channel whose variables are set. A channel set up halfway (e.g.
// SMTP_HOST without ALERT_EMAIL_TO) is an error naming the variable: on
// error returns nullopt and sets *error.
std::optional<std::vector<std::unique_ptr<Channel>>> ChannelsFromEnv(const Env& env,
                                                                     std::string* error);

// Sends one test alert through every configured channel (a short retry
// policy), prints "<channel>: ok" or "<channel>: failed: <reason>" per
// channel, and returns 0 when all succeeded, 1 when any failed, 2 when
// nothing is configured or the configuration is invalid.
int RunAlertTest(const Env& env, const std::string& host, std::FILE* out, std::FILE* err);

// The node's name for alerts: the hostname.
std::string HostName();

}  // namespace sightline::alerts
