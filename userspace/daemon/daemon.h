#pragma once

#include "config/options.h"

namespace sightline::daemon {

// Runs the daemon until SIGINT or SIGTERM. Returns the process exit code.
int RunDaemon(const config::Options& options);

}  // namespace sightline::daemon
