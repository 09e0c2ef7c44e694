// The parser for each database protocol the daemon understands.
#pragma once

#include <memory>

#include "protocols/db/operation.h"

namespace sightline::db {

// A fresh parser for one connection; nullptr for a protocol without one.
std::unique_ptr<Session> MakeSession(System system, Side side);

}  // namespace sightline::db
