#pragma once

#include <string>

namespace sightline::daemon {

// Configures the default spdlog logger: text on a terminal, one JSON object
// per line otherwise (format "auto"), or as requested.
void SetupLogging(const std::string& level, const std::string& format);

}  // namespace sightline::daemon
