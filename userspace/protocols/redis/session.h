// Redis (RESP2/RESP3) for one connection: one db::Operation per command,
// paired in order with its reply, so pipelines (many commands before their
// replies) work.
//
// - Commands are arrays of bulk strings or inline lines; only the command
//   and its first two arguments are kept (key, destination or count).
// - Replies of any type and nesting are read without buffering bulk
//   payloads. Pushes are not replies: RESP3 '>' messages, and, once the
//   connection subscribed, RESP2 "message"/"pmessage"/"smessage" arrays.
//   A SUBSCRIBE family command is answered by its confirmations (one per
//   channel), which RESP3 sends as pushes.
// - Lists used as queues: LPUSH/RPUSH(X) enqueue, LPOP/RPOP, BLPOP/BRPOP
//   and the moves (LMOVE, BLMOVE, RPOPLPUSH, BRPOPLPUSH) dequeue, LLEN
//   reports a length; cache reads (GET, GETEX, GETDEL, HGET, MGET, HMGET)
//   report hits and misses. Inside MULTI the replies are QUEUED: neither
//   moved items nor hits are known there (EXEC's own reply is not split).
// - Garbage is reported as "invalid_message"; the stream then waits for a
//   chunk that starts a value (clients write whole commands per call), and
//   every command still waiting comes out unanswered. Gaps inside a bulk
//   payload are skipped; elsewhere they resynchronise the same way.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "protocols/db/operation.h"
#include "protocols/redis/resp.h"

namespace sightline::redis {

struct Limits {
  // Commands waiting for replies; past it the oldest comes out unanswered
  // (too_many_pending).
  size_t max_pending = 4096;
};

class Session : public db::Session {
 public:
  explicit Session(db::Side side, Limits limits = {});

  void OnData(db::Stream s, std::string_view bytes, uint64_t ts_ns, db::Sink& sink) override;
  void OnGap(db::Stream s, uint64_t n, uint64_t ts_ns, db::Sink& sink) override;
  void OnClose(uint64_t ts_ns, db::Sink& sink) override;
  db::Side side() const override { return side_; }
  bool opaque() const override { return false; }
  size_t buffered_bytes() const override;

 private:
  // What the reply to a command tells beyond success or error.
  enum class Reads : uint8_t {
    kNothing,
    kCacheOne,     // GET, GETEX, GETDEL, HGET
    kCacheMany,    // MGET, HMGET
    kPush,         // LPUSH, RPUSH, LPUSHX, RPUSHX: the new length
    kPop,          // LPOP, RPOP: a value, nil, or an array with a count
    kBlockingPop,  // BLPOP, BRPOP: [key, value] or nil
    kMove,         // LMOVE, BLMOVE, RPOPLPUSH, BRPOPLPUSH: the value or nil
    kLength,       // LLEN
    kSubscribe,    // the SUBSCRIBE and UNSUBSCRIBE families: confirmations
  };

  struct Pending {
    db::Operation op;
    Reads reads = Reads::kNothing;
    bool queued = false;         // sent inside MULTI: the reply is QUEUED
    uint64_t confirmations = 0;  // kSubscribe: confirmations still due
  };

  struct StreamState {
    explicit StreamState(bool requests);
    Reader reader;
    bool seeking = false;    // out of sync: waiting for a chunk starting a value
    bool tentative = false;  // resynchronised, no value read whole yet
    uint64_t start_ns = 0;   // first byte of the value being read
  };

  bool IsRequestStream(db::Stream s) const;
  bool Infer(db::Stream s, std::string_view data);
  void Feed(db::Stream s, std::string_view data, uint64_t ts, db::Sink& sink);
  void OnRequest(const Value& v, uint64_t start, uint64_t end, db::Sink& sink);
  void OnReply(const Value& v, uint64_t start, uint64_t end, db::Sink& sink);
  bool IsPush(const Value& v) const;
  void Complete(Pending& p, const Value& v, db::Sink& sink);
  void Resync(db::Stream s, db::Sink& sink);
  void EmitAll(db::Sink& sink);
  void PopFront(db::Sink& sink);
  static size_t Footprint(const Pending& p);

  db::Side side_;
  Limits limits_;
  bool closed_ = false;
  std::array<StreamState, 2> streams_;
  std::deque<Pending> pending_;
  size_t pending_bytes_ = 0;
  bool in_multi_ = false;
  bool subscribed_ = false;
  // Replies read before the commands they answer were followed (a
  // connection picked up mid-life or after a gap) are ignored until one
  // reply pairs, instead of being counted as unmatched.
  bool replies_settled_ = true;
};

}  // namespace sightline::redis
