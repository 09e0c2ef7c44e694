// What the database and cache protocol parsers (PostgreSQL, Redis) produce:
// one Operation per command the observed process sent or answered, and the
// session interface the connection tracker drives them through.
//
// Parsers follow the same rules as the HTTP/1 session: they are fed the two
// byte streams of one connection in order, one call per syscall; they never
// throw on the data path; they hold bounded memory and report what they
// could not parse through Sink::OnError instead of failing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/http1/session.h"

namespace sightline::db {

using http1::Side;    // kServer: the observed process answered; kClient: it asked
using http1::Stream;  // kIngress: read by the observed process; kEgress: written

enum class System : uint8_t { kPostgres, kRedis };

// OpenTelemetry db.system.name values: "postgresql", "redis".
std::string_view SystemName(System s);

// What a Redis command did to a list used as a queue (Celery, RQ, Sidekiq).
enum class QueueAction : uint8_t { kNone, kEnqueue, kDequeue };

struct Operation {
  System system = System::kPostgres;
  Side side = Side::kUnknown;
  // db_operation_name: the SQL verb as written, upper-cased (SELECT, INSERT,
  // UPDATE, DELETE, BEGIN, END, COMMIT, WITH, ...), or the Redis command,
  // upper-cased (GET, SET, LPUSH, ...). Never query text, never a key.
  std::string name;
  // "" on success; PostgreSQL: the SQLSTATE of the ErrorResponse ("42P01");
  // Redis: the error reply's first word ("WRONGTYPE", "ERR", "NOSCRIPT").
  std::string error_type;
  // PostgreSQL: the statement with literals replaced by '?', at most 256
  // bytes; for logs only, never a metric label. Empty for Redis.
  std::string query_summary;
  // PostgreSQL: the database named in the startup message, when it was seen.
  // Redis: empty.
  std::string db_namespace;

  // Redis list queues. `queue_key` is the list the command pushed to or
  // popped from (for BRPOP/BLPOP: the key named in the reply); `queue_items`
  // how many elements moved (0 when a pop timed out or found the list empty);
  // `queue_length` the list's length when the reply reveals it (LPUSH, RPUSH,
  // LLEN).
  QueueAction queue_action = QueueAction::kNone;
  std::string queue_key;
  uint64_t queue_items = 0;
  std::optional<int64_t> queue_length;
  // A BLMOVE/BRPOPLPUSH/LMOVE/RPOPLPUSH is a dequeue from queue_key and an
  // enqueue onto this list.
  std::string queue_destination;

  // Redis reads used as a cache (GET, GETEX, GETDEL, HGET, MGET, HMGET):
  // true when the reply carried a value, false on nil (a miss); MGET/HMGET
  // count per key in cache_hits/cache_misses. Unset for other commands.
  std::optional<bool> cache_hit;
  uint32_t cache_hits = 0;
  uint32_t cache_misses = 0;

  bool answered = false;  // a complete reply was seen
  // Timestamps (CLOCK_MONOTONIC ns of the carrying syscalls): first and last
  // request bytes, first and last response bytes.
  uint64_t request_start_ns = 0;
  uint64_t request_end_ns = 0;
  uint64_t response_start_ns = 0;
  uint64_t response_end_ns = 0;
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void OnOperation(const Operation& op) = 0;
  // A protocol violation or resynchronisation; `reason` is a short
  // snake_case word for sightline_parse_errors_total{protocol,reason}.
  virtual void OnError(std::string_view reason) = 0;
};

class Session {
 public:
  virtual ~Session() = default;
  virtual void OnData(Stream s, std::string_view bytes, uint64_t ts_ns, Sink& sink) = 0;
  // n bytes of stream s passed uncaptured here (truncation or a lost event).
  virtual void OnGap(Stream s, uint64_t n, uint64_t ts_ns, Sink& sink) = 0;
  // The connection closed: every command still waiting comes out with
  // answered = false. Later calls are ignored.
  virtual void OnClose(uint64_t ts_ns, Sink& sink) = 0;
  // Resolved side (inferred from traffic when constructed kUnknown).
  virtual Side side() const = 0;
  // The connection switched to something this parser cannot follow (a
  // PostgreSQL SSLRequest the server accepted): the caller stops feeding it.
  virtual bool opaque() const = 0;
  virtual size_t buffered_bytes() const = 0;
};

}  // namespace sightline::db
