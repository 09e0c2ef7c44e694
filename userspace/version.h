// The daemon's version and source revision, fixed at configure time.
#pragma once

namespace sightline {
extern const char kVersion[];
extern const char kRevision[];
}  // namespace sightline
