// Database connections on the tracker: the parser is chosen from the
// probe's classification (or from TLS plaintext), gets both streams in
// order, is closed with the connection, and client connections are counted
// open and closed exactly once, across a PostgreSQL switch to TLS.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "conn/tracker.h"

namespace {

using sightline::conn::ConnectionInfo;
using sightline::conn::ConnectionTracker;
using sightline::decode::ConnClose;
using sightline::decode::ConnOpen;
using sightline::decode::ConnProtocol;
using sightline::decode::Data;
using sightline::decode::Direction;
using sightline::decode::Role;
using sightline::decode::TlsData;
namespace db = sightline::db;
namespace http1 = sightline::http1;

struct HttpSink : sightline::conn::TransactionSink {
  size_t txns = 0;
  void OnHttp(const ConnectionInfo&, const http1::Transaction&) override { txns++; }
  void OnHttpError(const ConnectionInfo&, http1::ErrorKind) override {}
};

// A stand-in parser: each egress chunk is a command named by its bytes,
// each ingress chunk answers the oldest one; "?" on ingress reports an error.
struct FakeSession : db::Session {
  db::System system;
  db::Side side_;
  std::vector<std::string> fed;  // "<" ingress, ">" egress, "gap", "close"
  std::vector<db::Operation> pending;
  bool closed = false;

  FakeSession(db::System s, db::Side side) : system(s), side_(side) {}
  void OnData(db::Stream s, std::string_view bytes, uint64_t ts, db::Sink& sink) override {
    fed.push_back((s == db::Stream::kEgress ? ">" : "<") + std::string(bytes));
    if (side_ == db::Side::kUnknown) side_ = db::Side::kClient;
    if (s == db::Stream::kEgress) {
      db::Operation op;
      op.system = system;
      op.side = side_;
      op.name = std::string(bytes);
      op.request_start_ns = op.request_end_ns = ts;
      pending.push_back(op);
    } else if (bytes == "?") {
      sink.OnError("invalid_message");
    } else if (!pending.empty()) {
      db::Operation op = pending.front();
      pending.erase(pending.begin());
      op.answered = true;
      op.response_start_ns = op.response_end_ns = ts;
      sink.OnOperation(op);
    }
  }
  void OnGap(db::Stream, uint64_t, uint64_t, db::Sink&) override { fed.push_back("gap"); }
  void OnClose(uint64_t, db::Sink& sink) override {
    if (closed) return;
    closed = true;
    for (auto& op : pending) sink.OnOperation(op);
    pending.clear();
  }
  db::Side side() const override { return side_; }
  bool opaque() const override { return false; }
  size_t buffered_bytes() const override { return 0; }
};

struct DbSink : sightline::conn::DbSink {
  std::vector<std::pair<uint64_t, db::Operation>> ops;
  std::vector<std::string> errors;
  int open = 0, closed = 0;
  void OnDbOperation(const ConnectionInfo& c, const db::Operation& op) override {
    ops.push_back({c.conn_id, op});
  }
  void OnDbError(const ConnectionInfo&, db::System, std::string_view reason) override {
    errors.emplace_back(reason);
  }
  void OnDbConnection(const ConnectionInfo&, db::System, bool o) override { (o ? open : closed)++; }
};

struct Harness {
  HttpSink http;
  DbSink dbs;
  std::vector<FakeSession*> sessions;  // owned by the tracker
  std::vector<std::pair<db::System, db::Side>> made;
  ConnectionTracker tracker;
  uint64_t seq[2] = {};

  Harness()
      : tracker({}, http, &dbs, [this](db::System s, db::Side side) {
          made.push_back({s, side});
          auto p = std::make_unique<FakeSession>(s, side);
          sessions.push_back(p.get());
          return p;
        }) {}

  void Open(uint64_t id, Role role) {
    ConnOpen o;
    o.timestamp_ns = 1;
    o.pid = 10;
    o.fd = 7;
    o.conn_id = id;
    o.role = role;
    o.remote = {"127.0.0.1", 5432};
    tracker.OnOpen(o);
  }
  void Send(uint64_t id, Direction dir, std::string_view bytes, uint8_t proto, uint64_t ts,
            Role role = Role::kClient) {
    Data d;
    d.timestamp_ns = ts;
    d.pid = 10;
    d.fd = 7;
    d.conn_id = id;
    d.direction = dir;
    d.role = role;
    d.protocol = proto;
    d.seq = seq[int(dir)];
    seq[int(dir)] += bytes.size();
    d.orig_len = bytes.size();
    d.payload = bytes;
    tracker.OnData(d);
  }
  void Close(uint64_t id, uint64_t ts) {
    ConnClose c;
    c.timestamp_ns = ts;
    c.pid = 10;
    c.fd = 7;
    c.conn_id = id;
    tracker.OnClose(c);
  }
};

TEST(TrackerDb, ClientConnectionParsedCountedAndClosed) {
  Harness h;
  h.Open(1, Role::kClient);
  h.Send(1, Direction::kEgress, "SELECT", SL_PROTO_POSTGRES, 10);
  h.Send(1, Direction::kEgress, "INSERT", SL_PROTO_POSTGRES, 11);
  h.Send(1, Direction::kIngress, "r1", SL_PROTO_POSTGRES, 12);
  ASSERT_EQ(h.made.size(), 1u);
  EXPECT_EQ(h.made[0].first, db::System::kPostgres);
  EXPECT_EQ(h.made[0].second, db::Side::kClient);
  EXPECT_EQ(h.dbs.open, 1);
  ASSERT_EQ(h.dbs.ops.size(), 1u);
  EXPECT_EQ(h.dbs.ops[0].second.name, "SELECT");
  EXPECT_TRUE(h.dbs.ops[0].second.answered);
  h.Send(1, Direction::kIngress, "?", SL_PROTO_POSTGRES, 13);
  EXPECT_EQ(h.dbs.errors, std::vector<std::string>{"invalid_message"});
  h.Close(1, 20);
  // The unanswered INSERT comes out at close; the connection is closed once.
  ASSERT_EQ(h.dbs.ops.size(), 2u);
  EXPECT_EQ(h.dbs.ops[1].second.name, "INSERT");
  EXPECT_FALSE(h.dbs.ops[1].second.answered);
  EXPECT_EQ(h.dbs.closed, 1);
  EXPECT_EQ(h.http.txns, 0u);
  EXPECT_EQ(h.tracker.stats().postgres, 1u);
}

TEST(TrackerDb, MidLifeConnectionCountedAtItsFirstClientOperation) {
  Harness h;
  h.Send(2, Direction::kEgress, "GET", SL_PROTO_REDIS, 10, Role::kUnknown);
  ASSERT_EQ(h.made.size(), 1u);
  EXPECT_EQ(h.made[0].first, db::System::kRedis);
  EXPECT_EQ(h.made[0].second, db::Side::kUnknown);
  EXPECT_EQ(h.dbs.open, 0);
  h.Send(2, Direction::kIngress, "v", SL_PROTO_REDIS, 11, Role::kUnknown);
  EXPECT_EQ(h.dbs.open, 1);
  h.Send(2, Direction::kEgress, "SET", SL_PROTO_REDIS, 12, Role::kUnknown);
  h.Send(2, Direction::kIngress, "ok", SL_PROTO_REDIS, 13, Role::kUnknown);
  EXPECT_EQ(h.dbs.open, 1);
  EXPECT_EQ(h.dbs.ops.size(), 2u);
  h.Close(2, 20);
  EXPECT_EQ(h.dbs.closed, 1);
  EXPECT_EQ(h.tracker.stats().redis, 1u);
}

TEST(TrackerDb, ServerSideOperationsAreNotExported) {
  Harness h;
  h.Open(3, Role::kServer);
  h.Send(3, Direction::kIngress, "GET", SL_PROTO_REDIS, 10, Role::kServer);
  h.Send(3, Direction::kEgress, "v", SL_PROTO_REDIS, 11, Role::kServer);
  h.Close(3, 20);
  EXPECT_EQ(h.dbs.ops.size(), 0u);
  EXPECT_EQ(h.dbs.open, 0);
  EXPECT_EQ(h.dbs.closed, 0);
}

TEST(TrackerDb, PostgresSwitchingToTlsRestartsOnThePlaintext) {
  Harness h;
  h.Open(4, Role::kClient);
  h.Send(4, Direction::kEgress, "SSLREQ", SL_PROTO_POSTGRES, 10);
  h.Send(4, Direction::kIngress, "S", SL_PROTO_POSTGRES, 11);
  EXPECT_EQ(h.dbs.open, 1);
  ConnProtocol p;
  p.timestamp_ns = 12;
  p.pid = 10;
  p.fd = 7;
  p.conn_id = 4;
  p.role = Role::kClient;
  p.protocol = SL_PROTO_TLS;
  h.tracker.OnProtocol(p);

  // The plaintext starts again from offset 0 with the startup packet.
  const std::string startup("\x00\x00\x00\x08\x00\x03\x00\x00", 8);
  uint64_t seq[2] = {};
  auto tls = [&](Direction dir, std::string_view bytes, uint64_t ts) {
    TlsData d;
    d.timestamp_ns = ts;
    d.pid = 10;
    d.conn_id = 4;
    d.tls_id = 99;
    d.direction = dir;
    d.payload = bytes;
    d.orig_len = bytes.size();
    d.seq = seq[int(dir)];
    seq[int(dir)] += bytes.size();
    h.tracker.OnTlsData(d);
  };
  tls(Direction::kEgress, startup, 13);
  tls(Direction::kIngress, "R", 14);
  ASSERT_EQ(h.made.size(), 2u);
  EXPECT_EQ(h.made[1].first, db::System::kPostgres);
  EXPECT_EQ(h.sessions[1]->fed, (std::vector<std::string>{">" + startup, "<R"}));
  // The fake parser made an operation of the SSLRequest exchange too.
  ASSERT_EQ(h.dbs.ops.size(), 2u);
  EXPECT_EQ(h.dbs.ops[0].second.name, "SSLREQ");
  EXPECT_EQ(h.dbs.ops[1].second.name, startup);
  h.Close(4, 20);
  EXPECT_EQ(h.dbs.open, 1);
  EXPECT_EQ(h.dbs.closed, 1);
}

TEST(TrackerDb, RedisInsideTlsIsRecognisedFromItsPlaintext) {
  Harness h;
  h.Open(5, Role::kClient);
  ConnProtocol p;
  p.timestamp_ns = 2;
  p.pid = 10;
  p.fd = 7;
  p.conn_id = 5;
  p.role = Role::kClient;
  p.protocol = SL_PROTO_TLS;
  h.tracker.OnProtocol(p);
  TlsData d;
  d.timestamp_ns = 3;
  d.pid = 10;
  d.conn_id = 5;
  d.tls_id = 7;
  d.direction = Direction::kEgress;
  d.payload = "*1\r\n$4\r\nPING\r\n";
  d.orig_len = d.payload.size();
  h.tracker.OnTlsData(d);
  ASSERT_EQ(h.made.size(), 1u);
  EXPECT_EQ(h.made[0].first, db::System::kRedis);
  EXPECT_EQ(h.made[0].second, db::Side::kClient);
  EXPECT_EQ(h.dbs.open, 1);
}

TEST(TrackerDb, WithoutADbSinkDatabaseBytesGoNowhere) {
  HttpSink http;
  ConnectionTracker tracker({}, http);
  Data d;
  d.timestamp_ns = 1;
  d.pid = 1;
  d.conn_id = 9;
  d.role = Role::kClient;
  d.protocol = SL_PROTO_REDIS;
  d.direction = Direction::kEgress;
  d.payload = "*1\r\n$4\r\nPING\r\n";
  d.orig_len = d.payload.size();
  tracker.OnData(d);
  EXPECT_EQ(http.txns, 0u);
  EXPECT_EQ(tracker.stats().redis, 1u);
}

}  // namespace
