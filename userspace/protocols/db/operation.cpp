#include "protocols/db/operation.h"

namespace sightline::db {

std::string_view SystemName(System s) {
  switch (s) {
    case System::kPostgres:
      return "postgresql";
    case System::kRedis:
      return "redis";
  }
  return "unknown";
}

}  // namespace sightline::db
