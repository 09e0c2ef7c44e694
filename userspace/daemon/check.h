#pragma once

#include <cstdio>

#include "config/options.h"

namespace sightline::daemon {

// `sightline check`: prints what the kernel offers and whether the daemon
// can run here. Returns 0 when it can, 1 otherwise.
int RunCheck(const config::Options& options, std::FILE* out);

}  // namespace sightline::daemon
