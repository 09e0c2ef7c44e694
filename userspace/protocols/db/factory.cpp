#include "protocols/db/factory.h"

#include "protocols/postgres/session.h"
#include "protocols/redis/session.h"

namespace sightline::db {

std::unique_ptr<Session> MakeSession(System system, Side side) {
  switch (system) {
    case System::kPostgres:
      return std::make_unique<postgres::Session>(side);
    case System::kRedis:
      return std::make_unique<redis::Session>(side);
  }
  return nullptr;
}

}  // namespace sightline::db
