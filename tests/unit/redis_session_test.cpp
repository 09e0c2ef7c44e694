// Redis session: real captures (redis-cli, redis-benchmark -P 16, inline
// commands, RESP3 and RESP2 pub/sub, client tracking) fed whole, byte by
// byte, cut at every offset and from mid-life with an unknown side;
// synthetic exchanges for RESP3 types, huge values, gaps, limits and
// hostile input.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "db_capture.h"
#include "protocols/redis/resp.h"
#include "protocols/redis/session.h"

namespace sightline::redis {
namespace {

using db::Operation;
using db::QueueAction;
using db::Side;
using db::Stream;

using db::testing::Chunk;
using db::testing::LoadCapture;
using db::testing::Recorder;
using db::testing::StreamOf;
using db::testing::TotalBytes;

Recorder Replay(const std::vector<Chunk>& chunks, Side side, Side as = Side::kUnknown,
                size_t cut = SIZE_MAX, size_t step = SIZE_MAX, size_t skip = 0) {
  return db::testing::ReplayCapture<Session>(chunks, side, as, cut, step, skip, 48u * 1024);
}

// What one operation must carry; -1 for an unset optional.
struct Expected {
  std::string name;
  std::string error_type = "";
  QueueAction action = QueueAction::kNone;
  std::string key = "";
  uint64_t items = 0;
  int64_t length = -1;
  std::string destination = "";
  int cache_hit = -1;
  uint32_t hits = 0;
  uint32_t misses = 0;
};

Expected Plain(std::string name) { return Expected{std::move(name)}; }
Expected Err(std::string name, std::string error) {
  Expected e{std::move(name)};
  e.error_type = std::move(error);
  return e;
}
Expected Cache(std::string name, int hit, uint32_t hits, uint32_t misses) {
  Expected e{std::move(name)};
  e.cache_hit = hit;
  e.hits = hits;
  e.misses = misses;
  return e;
}
Expected Queue(std::string name, QueueAction action, std::string key, uint64_t items,
               int64_t length = -1, std::string destination = "") {
  Expected e{std::move(name)};
  e.action = action;
  e.key = std::move(key);
  e.items = items;
  e.length = length;
  e.destination = std::move(destination);
  return e;
}

Expected WithError(Expected e, std::string error) {
  e.error_type = std::move(error);
  return e;
}

std::string Describe(const std::vector<Operation>& ops) {
  std::string out;
  for (const Operation& op : ops) {
    out += op.name + (op.error_type.empty() ? "" : "/" + op.error_type) +
           (op.answered ? "" : "(unanswered)") + " ";
  }
  return out;
}

void ExpectOps(const Recorder& r, const std::vector<Expected>& want, bool answered = true) {
  ASSERT_EQ(r.ops.size(), want.size()) << Describe(r.ops);
  for (size_t i = 0; i < want.size(); ++i) {
    const Operation& op = r.ops[i];
    const Expected& w = want[i];
    SCOPED_TRACE("operation " + std::to_string(i) + " " + w.name);
    EXPECT_EQ(op.system, db::System::kRedis);
    EXPECT_EQ(op.name, w.name);
    EXPECT_EQ(op.error_type, w.error_type);
    EXPECT_EQ(op.queue_action, w.action);
    EXPECT_EQ(op.queue_key, w.key);
    EXPECT_EQ(op.queue_items, w.items);
    EXPECT_EQ(op.queue_length.value_or(-1), w.length);
    EXPECT_EQ(op.queue_destination, w.destination);
    EXPECT_EQ(op.cache_hit.has_value() ? static_cast<int>(*op.cache_hit) : -1, w.cache_hit);
    EXPECT_EQ(op.cache_hits, w.hits);
    EXPECT_EQ(op.cache_misses, w.misses);
    EXPECT_EQ(op.answered, answered);
    EXPECT_TRUE(op.query_summary.empty());
  }
  EXPECT_TRUE(r.errors.empty()) << r.errors.front();
}

std::vector<Expected> Repeat(const Expected& e, size_t n) { return std::vector<Expected>(n, e); }

std::vector<Expected> Lpushes() {
  std::vector<Expected> v;
  for (int i = 1; i <= 48; ++i) v.push_back(Queue("LPUSH", QueueAction::kEnqueue, "mylist", 1, i));
  return v;
}

struct CaptureCase {
  const char* file;
  std::vector<Expected> ops;
};

const std::vector<CaptureCase>& Captures() {
  constexpr auto kEnq = QueueAction::kEnqueue;
  constexpr auto kDeq = QueueAction::kDequeue;
  static const std::vector<CaptureCase> cases = {
      {"redis_cli_commands.txt",
       {Plain("SET"),
        Cache("GET", 1, 1, 0),
        Cache("GET", 0, 0, 1),
        Cache("MGET", -1, 2, 1),
        Plain("HSET"),
        Cache("HGET", 1, 1, 0),
        Cache("HMGET", -1, 1, 1),
        Queue("LPUSH", kEnq, "jobs", 3, 3),
        Queue("RPUSH", kEnq, "jobs", 1, 4),
        Queue("LLEN", QueueAction::kNone, "jobs", 0, 4),
        Queue("LPOP", kDeq, "jobs", 1),
        Queue("RPOP", kDeq, "jobs", 2),
        Queue("LPOP", kDeq, "empty", 0),
        Queue("BRPOP", kDeq, "jobs", 1),
        Queue("BLPOP", kDeq, "emptyq", 0),  // timed out: the key asked for
        Queue("RPOPLPUSH", kDeq, "jobs", 0, -1, "done"),
        Queue("LMOVE", kDeq, "jobs", 0, -1, "done"),
        Err("INCR", "ERR"),
        Plain("CONFIG"),
        Plain("MULTI"),
        Plain("INCR"),                        // QUEUED
        Queue("LPUSH", kEnq, "jobs", 1, -1),  // QUEUED: no length yet
        Plain("EXEC"),
        Plain("HGETALL")}},
      {"redis_resp3_tracking.txt",
       {Plain("HELLO"), Plain("HGETALL"), Plain("SMEMBERS"), Cache("GET", 0, 0, 1), Plain("CLIENT"),
        Cache("GET", 1, 1, 0), Plain("SET"), Plain("PING")}},
      {"redis_resp2_subscribe.txt", {Plain("SUBSCRIBE")}},
      {"redis_benchmark_set.txt", Repeat(Plain("SET"), 48)},
      {"redis_benchmark_get.txt", Repeat(Cache("GET", 1, 1, 0), 48)},
      {"redis_benchmark_lpush.txt", Lpushes()},
      {"redis_benchmark_lpop.txt", Repeat(Queue("LPOP", kDeq, "mylist", 1), 48)},
      {"redis_inline_pipeline.txt",
       {Plain("PING"), Plain("SET"), Cache("GET", 1, 1, 0),
        WithError(Queue("LPUSH", kEnq, "greeting", 0), "WRONGTYPE"), Err("NOSUCHCMD", "ERR"),
        Plain("DEL"), Queue("RPUSH", kEnq, "q1", 3, 3), Queue("LPOP", kDeq, "q1", 1),
        Queue("RPOP", kDeq, "q1", 2), Queue("RPOP", kDeq, "q1", 0),
        Queue("LLEN", QueueAction::kNone, "q1", 0, 0), Cache("GET", 1, 1, 0),
        Cache("MGET", -1, 1, 1), Queue("BLMOVE", kDeq, "q2", 0, -1, "q3"),
        Queue("RPUSH", kEnq, "q2", 1, 1), Queue("BRPOPLPUSH", kDeq, "q2", 1, -1, "q3"),
        Cache("GETDEL", 1, 1, 0)}},
      {"redis_resp3_pubsub.txt",
       {Plain("HELLO"), Plain("SUBSCRIBE"), Plain("PING"), Plain("UNSUBSCRIBE"),
        Cache("GET", 0, 0, 1)}},
      {"redis_resp2_psubscribe.txt",
       {Plain("PSUBSCRIBE"), Plain("PING"), Plain("PUNSUBSCRIBE"), Cache("GET", 0, 0, 1)}},
  };
  return cases;
}

TEST(RedisSession, CapturesWholeAsClientAndServer) {
  for (const CaptureCase& c : Captures()) {
    SCOPED_TRACE(c.file);
    const auto chunks = LoadCapture(c.file);
    ExpectOps(Replay(chunks, Side::kClient), c.ops);
    const Recorder server = Replay(chunks, Side::kServer);
    ExpectOps(server, c.ops);
    for (const Operation& op : server.ops) EXPECT_EQ(op.side, Side::kServer);
  }
}

TEST(RedisSession, CapturesByteByByte) {
  for (const CaptureCase& c : Captures()) {
    SCOPED_TRACE(c.file);
    ExpectOps(Replay(LoadCapture(c.file), Side::kClient, Side::kUnknown, SIZE_MAX, 1), c.ops);
  }
}

TEST(RedisSession, CapturesCutAtEveryOffset) {
  for (const CaptureCase& c : Captures()) {
    SCOPED_TRACE(c.file);
    const auto chunks = LoadCapture(c.file);
    const size_t total = TotalBytes(chunks);
    for (size_t cut = 1; cut < total; ++cut) {
      const Recorder r = Replay(chunks, Side::kClient, Side::kUnknown, cut);
      ASSERT_EQ(r.ops.size(), c.ops.size()) << "cut at " << cut;
      for (size_t i = 0; i < c.ops.size(); ++i) {
        ASSERT_EQ(r.ops[i].name, c.ops[i].name) << "cut at " << cut;
        ASSERT_EQ(r.ops[i].error_type, c.ops[i].error_type) << "cut at " << cut;
        ASSERT_EQ(r.ops[i].queue_items, c.ops[i].items) << "cut at " << cut;
        ASSERT_EQ(r.ops[i].cache_hits, c.ops[i].hits) << "cut at " << cut;
        ASSERT_EQ(r.ops[i].cache_misses, c.ops[i].misses) << "cut at " << cut;
        ASSERT_TRUE(r.ops[i].answered) << "cut at " << cut;
      }
      ASSERT_TRUE(r.errors.empty()) << "cut at " << cut;
    }
  }
}

TEST(RedisSession, PipelineTimestamps) {
  // redis-benchmark -P 16: chunk 1 carries 16 GETs, chunk 2 their replies.
  const Recorder r = Replay(LoadCapture("redis_benchmark_get.txt"), Side::kClient);
  ASSERT_EQ(r.ops.size(), 48u);
  for (size_t i = 0; i < 48; ++i) {
    const uint64_t batch = i / 16;
    EXPECT_EQ(r.ops[i].request_start_ns, 1000 * (2 * batch + 1));
    EXPECT_EQ(r.ops[i].request_end_ns, 1000 * (2 * batch + 1));
    EXPECT_EQ(r.ops[i].response_start_ns, 1000 * (2 * batch + 2));
    EXPECT_EQ(r.ops[i].response_end_ns, 1000 * (2 * batch + 2));
  }
}

TEST(RedisSession, MidLifeUnknownSideInfersFromTraffic) {
  for (const Side as : {Side::kClient, Side::kServer}) {
    // From the start: the first command names the request stream.
    const Recorder whole = Replay(LoadCapture("redis_benchmark_lpop.txt"), Side::kUnknown, as);
    ExpectOps(whole, Repeat(Queue("LPOP", QueueAction::kDequeue, "mylist", 1), 48));
    // Picked up at a reply: the replies stream is known first, and the
    // reply whose command was not seen is not counted as unmatched.
    const auto chunks = LoadCapture("redis_cli_commands.txt");
    const Recorder mid = Replay(chunks, Side::kUnknown, as, SIZE_MAX, SIZE_MAX, 1);
    ASSERT_EQ(mid.ops.size(), 23u) << Describe(mid.ops);
    EXPECT_EQ(mid.ops[0].name, "GET");
    EXPECT_EQ(mid.ops[0].side, as);
    EXPECT_EQ(mid.ops[22].name, "HGETALL");
    EXPECT_TRUE(mid.errors.empty());
  }
}

// ---------------------------------------------------------------------------
// Synthetic exchanges

std::string Cmd(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

struct Exchange {
  const char* name;
  std::string request;
  std::string reply;
  Expected want;
};

TEST(RedisSession, Resp3TypesAndErrors) {
  const std::vector<Exchange> cases = {
      {"blob_error", Cmd({"EVAL", "x", "0"}), "!21\r\nSYNTAX invalid syntax\r\n",
       Err("EVAL", "SYNTAX")},
      {"attribute_before_reply", Cmd({"GET", "k"}),
       "|1\r\n+key-popularity\r\n%1\r\n$1\r\nk\r\n,0.19\r\n$2\r\nok\r\n", Cache("GET", 1, 1, 0)},
      {"double_bool_bignum", Cmd({"ZSCORE", "z", "m"}), ",3.5\r\n", Plain("ZSCORE")},
      {"bool", Cmd({"SISMEMBER", "s", "m"}), "#t\r\n", Plain("SISMEMBER")},
      {"bignum", Cmd({"INCRBY", "k", "1"}), "(3492890328409238509324850943850943825024385\r\n",
       Plain("INCRBY")},
      {"verbatim", Cmd({"INFO"}), "=15\r\ntxt:Some string\r\n", Plain("INFO")},
      {"nested_map_in_array", Cmd({"XREAD", "STREAMS", "s", "0"}),
       "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n",
       Plain("XREAD")},
      {"mget_resp3_nulls", Cmd({"MGET", "a", "b", "c"}), "*3\r\n_\r\n$1\r\nx\r\n_\r\n",
       Cache("MGET", -1, 1, 2)},
      {"moved", Cmd({"GET", "k"}), "-MOVED 3999 127.0.0.1:6381\r\n", Err("GET", "MOVED")},
      {"lowercase_error", Cmd({"EVAL", "x", "0"}), "-user_script:1: oops\r\n", Err("EVAL", "ERR")},
      {"lpop_count_nil_resp3", Cmd({"LPOP", "q", "3"}), "_\r\n",
       Queue("LPOP", QueueAction::kDequeue, "q", 0)},
      {"brpop_timeout_resp3", Cmd({"BRPOP", "q1", "q2", "1"}), "_\r\n",
       Queue("BRPOP", QueueAction::kDequeue, "q1", 0)},
      {"brpop_second_key", Cmd({"BRPOP", "q1", "q2", "1"}), "*2\r\n$2\r\nq2\r\n$1\r\nv\r\n",
       Queue("BRPOP", QueueAction::kDequeue, "q2", 1)},
      {"lpushx_missing", Cmd({"LPUSHX", "q", "a", "b"}), ":0\r\n",
       Queue("LPUSHX", QueueAction::kEnqueue, "q", 2, 0)},
      {"lowercase_command", Cmd({"rpush", "q", "a"}), ":7\r\n",
       Queue("RPUSH", QueueAction::kEnqueue, "q", 1, 7)},
      {"garbage_name", Cmd({"GET\x01\x02", "k"}), "-ERR unknown command\r\n",
       Err("UNKNOWN", "ERR")},
  };
  for (const Exchange& c : cases) {
    SCOPED_TRACE(c.name);
    for (size_t cut = 0; cut <= c.reply.size(); ++cut) {
      Session s(Side::kClient);
      Recorder r;
      s.OnData(Stream::kEgress, c.request, 1, r);
      s.OnData(Stream::kIngress, c.reply.substr(0, cut), 2, r);
      s.OnData(Stream::kIngress, c.reply.substr(cut), 3, r);
      ExpectOps(r, {c.want});
      EXPECT_EQ(s.buffered_bytes(), 0u);
    }
  }
}

TEST(RedisSession, HugeValuesAreSkippedNotBuffered) {
  Session s(Side::kClient);
  Recorder r;
  const std::string value(8 << 20, 'v');
  const std::string set = Cmd({"SET", "big", value});
  for (size_t i = 0; i < set.size(); i += 65536) {
    s.OnData(Stream::kEgress, std::string_view(set).substr(i, 65536), 1, r);
    ASSERT_LE(s.buffered_bytes(), 4096u);
  }
  s.OnData(Stream::kIngress, "+OK\r\n", 2, r);
  s.OnData(Stream::kEgress, Cmd({"GET", "big"}), 3, r);
  const std::string reply = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  for (size_t i = 0; i < reply.size(); i += 65536) {
    s.OnData(Stream::kIngress, std::string_view(reply).substr(i, 65536), 4 + i / 65536, r);
    ASSERT_LE(s.buffered_bytes(), 4096u);
  }
  ExpectOps(r, {Plain("SET"), Cache("GET", 1, 1, 0)});
  EXPECT_EQ(r.ops[1].response_start_ns, 4u);
  EXPECT_EQ(r.ops[1].response_end_ns, 4u + (reply.size() - 1) / 65536);
}

TEST(RedisSession, GapInsideBulkKeepsPairingElsewhereResyncs) {
  Session s(Side::kClient);
  Recorder r;
  s.OnData(Stream::kEgress, Cmd({"GET", "k"}), 1, r);
  s.OnData(Stream::kIngress, "$1000\r\n" + std::string(10, 'x'), 2, r);
  s.OnGap(Stream::kIngress, 980, 3, r);
  s.OnData(Stream::kIngress, std::string(10, 'x') + "\r\n", 4, r);
  ASSERT_EQ(r.ops.size(), 1u);
  EXPECT_TRUE(r.ops[0].answered);
  EXPECT_TRUE(r.errors.empty());

  s.OnData(Stream::kEgress, Cmd({"GET", "k"}), 5, r);
  s.OnData(Stream::kIngress, "$10", 6, r);  // inside the length line
  s.OnGap(Stream::kIngress, 4, 7, r);
  ASSERT_EQ(r.ops.size(), 2u);
  EXPECT_FALSE(r.ops[1].answered);
  EXPECT_EQ(r.errors, std::vector<std::string>{"gap"});
  // The next chunk that starts a value pairs again.
  s.OnData(Stream::kIngress, "abc\r\n", 8, r);  // the rest of the lost reply
  s.OnData(Stream::kEgress, Cmd({"GET", "k"}), 9, r);
  s.OnData(Stream::kIngress, "$-1\r\n", 10, r);
  ASSERT_EQ(r.ops.size(), 3u);
  EXPECT_TRUE(r.ops[2].answered);
  EXPECT_EQ(r.ops[2].cache_misses, 1u);
  EXPECT_EQ(r.errors.size(), 1u);
}

TEST(RedisSession, InvalidInputIsCountedAndResynchronised) {
  const std::vector<std::string> bad = {
      "$99999999999\r\n",             // longer than any bulk string
      "*-5\r\n",                      // impossible count
      "?weird\r\n",                   // no such type
      ":12abc\r\n",                   // not an integer
      "$3\r\nabcXY",                  // payload not followed by CRLF
      "+" + std::string(70000, 'a'),  // a line past any limit
  };
  for (const std::string& b : bad) {
    SCOPED_TRACE(b.substr(0, 20));
    Session s(Side::kClient);
    Recorder r;
    s.OnData(Stream::kEgress, Cmd({"GET", "k"}), 1, r);
    s.OnData(Stream::kIngress, b, 2, r);
    EXPECT_EQ(r.errors, std::vector<std::string>{"invalid_message"});
    ASSERT_EQ(r.ops.size(), 1u);
    EXPECT_FALSE(r.ops[0].answered);
    s.OnData(Stream::kEgress, Cmd({"GET", "k"}), 3, r);
    s.OnData(Stream::kIngress, "$1\r\nv\r\n", 4, r);
    ASSERT_EQ(r.ops.size(), 2u);
    EXPECT_TRUE(r.ops[1].answered);
    EXPECT_LE(s.buffered_bytes(), 2048u);
  }
  // A command must be an array of bulk strings.
  Session s(Side::kServer);
  Recorder r;
  s.OnData(Stream::kIngress, "*2\r\n:1\r\n:2\r\n", 1, r);
  EXPECT_EQ(r.errors, std::vector<std::string>{"invalid_message"});
}

TEST(RedisSession, TooManyPendingAndClose) {
  Limits limits;
  limits.max_pending = 3;
  Session s(Side::kClient, limits);
  Recorder r;
  std::string batch;
  for (int i = 0; i < 5; ++i) batch += Cmd({"INCR", "n"});
  s.OnData(Stream::kEgress, batch, 1, r);
  EXPECT_EQ(r.errors, (std::vector<std::string>{"too_many_pending", "too_many_pending"}));
  EXPECT_EQ(r.ops.size(), 2u);
  s.OnData(Stream::kIngress, ":3\r\n", 2, r);
  s.OnClose(3, r);
  ASSERT_EQ(r.ops.size(), 5u);
  EXPECT_TRUE(r.ops[2].answered);
  EXPECT_FALSE(r.ops[3].answered);
  EXPECT_FALSE(r.ops[4].answered);
  s.OnData(Stream::kIngress, ":4\r\n", 4, r);  // after close: ignored
  EXPECT_EQ(r.ops.size(), 5u);
}

TEST(RedisSession, MultiQueuedPopsMoveNothingYet) {
  Session s(Side::kClient);
  Recorder r;
  s.OnData(Stream::kEgress, Cmd({"MULTI"}) + Cmd({"LPOP", "q"}) + Cmd({"GET", "k"}) + Cmd({"EXEC"}),
           1, r);
  s.OnData(Stream::kIngress, "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n", 2, r);
  ExpectOps(r, {Plain("MULTI"), Queue("LPOP", QueueAction::kDequeue, "q", 0), Plain("GET"),
                Plain("EXEC")});
}

TEST(RedisSession, LongKeyIsCutAndCounted) {
  Session s(Side::kClient);
  Recorder r;
  s.OnData(Stream::kEgress, Cmd({"LPUSH", std::string(2000, 'k'), "v"}), 1, r);
  s.OnData(Stream::kIngress, ":1\r\n", 2, r);
  ASSERT_EQ(r.ops.size(), 1u);
  EXPECT_EQ(r.ops[0].queue_key, std::string(512, 'k'));
  EXPECT_EQ(r.errors, std::vector<std::string>{"key_truncated"});
}

TEST(RedisSession, HostileInputNeverCrashesAndStaysBounded) {
  std::mt19937 rng(4242);
  const std::string alphabet = "*$:+-_,#(!=%~>|\r\n0123456789-?aZ";
  for (int round = 0; round < 300; ++round) {
    for (const Side side : {Side::kClient, Side::kServer, Side::kUnknown}) {
      Session s(side);
      Recorder r;
      for (int i = 0; i < 30; ++i) {
        std::string junk(rng() % 200, '\0');
        const bool resp_like = rng() % 2 == 0;
        for (char& c : junk) {
          c = resp_like ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng());
        }
        const Stream st = rng() % 2 ? Stream::kEgress : Stream::kIngress;
        if (rng() % 10 == 0) {
          s.OnGap(st, rng() % 5000, i, r);
        } else {
          s.OnData(st, junk, i, r);
        }
        ASSERT_LE(s.buffered_bytes(), 4096u * 1024);
      }
      s.OnClose(100, r);
      EXPECT_EQ(s.buffered_bytes(), 0u);
    }
  }
}

TEST(RedisResp, ReaderSkipsNestingAndKeepsHead) {
  Reader reader(false, 2, 4);
  std::string_view in = "*3\r\n$6\r\nabcdef\r\n*2\r\n:1\r\n*1\r\n_\r\n$-1\r\n+next\r\n";
  ASSERT_EQ(reader.Feed(&in), ReadStatus::kComplete);
  const Value& v = reader.value();
  EXPECT_EQ(v.type, '*');
  EXPECT_EQ(v.integer, 3);
  EXPECT_EQ(v.children, 3u);
  EXPECT_EQ(v.null_children, 1u);
  ASSERT_EQ(v.head.size(), 2u);
  EXPECT_EQ(v.head[0].text, "abcd");
  EXPECT_EQ(v.head[0].length, 6u);
  EXPECT_EQ(v.head[1].type, '*');
  EXPECT_EQ(v.head[1].integer, 2);
  EXPECT_EQ(in, "+next\r\n");
  reader.Reset();
  ASSERT_EQ(reader.Feed(&in), ReadStatus::kComplete);
  EXPECT_EQ(reader.value().text, "next");
}

}  // namespace
}  // namespace sightline::redis
