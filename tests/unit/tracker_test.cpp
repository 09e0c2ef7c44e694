// The connection tracker fed by synthetic events, as the kernel would emit
// them: ordering, gaps, pipelining, fd and pid reuse, idle and capacity shedding.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "conn/tracker.h"

namespace {

using sightline::conn::ConnectionInfo;
using sightline::conn::ConnectionTracker;
using sightline::conn::TrackerLimits;
using sightline::decode::ConnClose;
using sightline::decode::ConnOpen;
using sightline::decode::Data;
using sightline::decode::Direction;
using sightline::decode::Role;
namespace http1 = sightline::http1;

struct Sink : sightline::conn::TransactionSink {
  struct Seen {
    uint64_t conn_id;
    http1::Transaction t;
  };
  std::vector<Seen> txns;
  std::vector<http1::ErrorKind> errors;
  void OnHttp(const ConnectionInfo& c, const http1::Transaction& t) override {
    txns.push_back({c.conn_id, t});
  }
  void OnHttpError(const ConnectionInfo&, http1::ErrorKind k) override { errors.push_back(k); }
  size_t answered() const {
    size_t n = 0;
    for (auto& s : txns) n += s.t.answered;
    return n;
  }
};

constexpr std::string_view kGet = "GET /items/1 HTTP/1.1\r\nHost: a\r\n\r\n";
constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

struct Harness {
  Sink sink;
  ConnectionTracker tracker;
  uint64_t seq[16][2] = {};

  explicit Harness(TrackerLimits l = {}) : tracker(l, sink) {}

  void Open(uint64_t id, uint32_t pid, uint32_t fd, Role role, uint64_t ts = 1) {
    ConnOpen o;
    o.timestamp_ns = ts;
    o.pid = pid;
    o.fd = fd;
    o.conn_id = id;
    o.role = role;
    o.remote = {"127.0.0.1", 8080};
    tracker.OnOpen(o);
  }
  // Emits bytes at the connection's next offset (or an explicit one).
  Data Make(uint64_t id, uint32_t pid, uint32_t fd, Direction dir, std::string_view bytes,
            uint64_t ts, uint32_t moved = 0) {
    Data d;
    d.timestamp_ns = ts;
    d.pid = pid;
    d.fd = fd;
    d.conn_id = id;
    d.direction = dir;
    d.payload = bytes;
    d.orig_len = moved ? moved : bytes.size();
    d.seq = seq[id][int(dir)];
    seq[id][int(dir)] += d.orig_len;
    return d;
  }
  void Send(uint64_t id, uint32_t pid, uint32_t fd, Direction dir, std::string_view bytes,
            uint64_t ts, uint32_t moved = 0) {
    tracker.OnData(Make(id, pid, fd, dir, bytes, ts, moved));
  }
  void Close(uint64_t id, uint32_t pid, uint32_t fd, uint64_t ts) {
    ConnClose c;
    c.timestamp_ns = ts;
    c.pid = pid;
    c.fd = fd;
    c.conn_id = id;
    tracker.OnClose(c);
  }
};

TEST(Tracker, ServerExchangeWithTimestamps) {
  Harness h;
  h.Open(1, 100, 5, Role::kServer);
  h.Send(1, 100, 5, Direction::kIngress, kGet, 1000);
  h.Send(1, 100, 5, Direction::kEgress, kOk, 5000);
  ASSERT_EQ(h.sink.txns.size(), 1u);
  const auto& t = h.sink.txns[0].t;
  EXPECT_EQ(t.side, http1::Side::kServer);
  EXPECT_EQ(t.method, "GET");
  EXPECT_EQ(t.target, "/items/1");
  EXPECT_EQ(t.status, 200);
  EXPECT_EQ(t.response_body_bytes, 2u);
  EXPECT_EQ(t.request_start_ns, 1000u);
  EXPECT_EQ(t.response_end_ns, 5000u);
  EXPECT_EQ(h.tracker.stats().opened, 1u);
}

TEST(Tracker, ReorderedEventsAcrossCpus) {
  Harness h;
  h.Open(1, 100, 5, Role::kServer);
  std::string req(kGet);
  Data first = h.Make(1, 100, 5, Direction::kIngress, std::string_view(req).substr(0, 10), 1000);
  Data second = h.Make(1, 100, 5, Direction::kIngress, std::string_view(req).substr(10), 1001);
  h.tracker.OnData(second);
  h.tracker.OnData(first);
  h.Send(1, 100, 5, Direction::kEgress, kOk, 2000);
  ASSERT_EQ(h.sink.answered(), 1u);
  EXPECT_EQ(h.sink.txns[0].t.target, "/items/1");
  EXPECT_EQ(h.tracker.stats().stream.reordered, 1u);
  EXPECT_TRUE(h.sink.errors.empty());
}

TEST(Tracker, PipelinedRequestsInOneWrite) {
  Harness h;
  h.Open(1, 100, 5, Role::kServer);
  std::string three = std::string(kGet) + std::string(kGet) + std::string(kGet);
  h.Send(1, 100, 5, Direction::kIngress, three, 1000);
  std::string responses = std::string(kOk) + std::string(kOk);
  h.Send(1, 100, 5, Direction::kEgress, responses, 2000);
  h.Send(1, 100, 5, Direction::kEgress, kOk, 3000);
  EXPECT_EQ(h.sink.answered(), 3u);
  EXPECT_EQ(h.sink.txns[2].t.response_end_ns, 3000u);
}

TEST(Tracker, LostEventBecomesGapAndRecovers) {
  TrackerLimits l;
  l.stream.hole_timeout_ns = 100;
  Harness h(l);
  h.Open(1, 100, 5, Role::kServer);
  h.Send(1, 100, 5, Direction::kIngress, kGet, 1000);
  h.Make(1, 100, 5, Direction::kEgress, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", 2000);  // lost
  h.Send(1, 100, 5, Direction::kEgress, "\r\nhi", 2001);
  h.tracker.Sweep(5000);
  // The response head was lost: its request comes out unanswered, and the
  // next exchange on the same connection is counted normally.
  h.Send(1, 100, 5, Direction::kIngress, kGet, 6000);
  h.Send(1, 100, 5, Direction::kEgress, kOk, 7000);
  EXPECT_EQ(h.tracker.stats().stream.lost_bytes, 36u);
  EXPECT_EQ(h.sink.answered(), 1u);
  EXPECT_EQ(h.sink.txns.size(), 2u);
  EXPECT_FALSE(h.sink.txns[0].t.answered);
}

TEST(Tracker, UncapturedBodyBytesAreSkipped) {
  Harness h;
  h.Open(1, 100, 5, Role::kServer);
  h.Send(1, 100, 5, Direction::kIngress, kGet, 1000);
  h.Send(1, 100, 5, Direction::kEgress, "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n", 2000);
  h.Send(1, 100, 5, Direction::kEgress, "", 3000, 1048576);  // sendfile: nothing captured
  ASSERT_EQ(h.sink.answered(), 1u);
  EXPECT_EQ(h.sink.txns[0].t.response_body_bytes, 1048576u);
  EXPECT_EQ(h.tracker.stats().stream.uncaptured_bytes, 1048576u);
}

TEST(Tracker, FdReuseClosesTheOldConnection) {
  Harness h;
  h.Open(1, 100, 5, Role::kServer);
  h.Send(1, 100, 5, Direction::kIngress, kGet, 1000);
  // Close was lost; the fd is reused by a new connection.
  h.Open(2, 100, 5, Role::kServer, 2000);
  EXPECT_EQ(h.tracker.stats().shed_fd_reuse, 1u);
  ASSERT_EQ(h.sink.txns.size(), 1u);
  EXPECT_FALSE(h.sink.txns[0].t.answered);
  h.Send(2, 100, 5, Direction::kIngress, kGet, 3000);
  h.Send(2, 100, 5, Direction::kEgress, kOk, 4000);
  EXPECT_EQ(h.sink.answered(), 1u);
  EXPECT_EQ(h.tracker.size(), 1u);
}

TEST(Tracker, SamePidFdDifferentProcessesStayApart) {
  Harness h;
  h.Open(1, 100, 5, Role::kServer);
  h.Open(2, 200, 5, Role::kClient);
  h.Send(2, 200, 5, Direction::kEgress, kGet, 1000);
  h.Send(1, 100, 5, Direction::kIngress, kGet, 1001);
  h.Send(1, 100, 5, Direction::kEgress, kOk, 1002);
  h.Send(2, 200, 5, Direction::kIngress, kOk, 1003);
  ASSERT_EQ(h.sink.answered(), 2u);
  EXPECT_EQ(h.sink.txns[0].t.side, http1::Side::kServer);
  EXPECT_EQ(h.sink.txns[1].t.side, http1::Side::kClient);
}

TEST(Tracker, ResetMidResponseIsUnanswered) {
  Harness h;
  h.Open(1, 100, 5, Role::kClient);
  h.Send(1, 100, 5, Direction::kEgress, kGet, 1000);
  h.Send(1, 100, 5, Direction::kIngress, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", 2000);
  h.Close(1, 100, 5, 3000);
  ASSERT_EQ(h.sink.txns.size(), 1u);
  EXPECT_FALSE(h.sink.txns[0].t.answered);
  EXPECT_EQ(h.sink.txns[0].t.status, 200);
  EXPECT_EQ(h.tracker.size(), 0u);
  EXPECT_EQ(h.tracker.stats().closed, 1u);
}

TEST(Tracker, IdleConnectionsAreShed) {
  TrackerLimits l;
  l.idle_timeout_ns = 1000;
  Harness h(l);
  h.Open(1, 100, 5, Role::kServer, 100);
  h.Open(2, 100, 6, Role::kServer, 100);
  h.Send(2, 100, 6, Direction::kIngress, kGet, 900);
  h.tracker.Sweep(1500);
  EXPECT_EQ(h.tracker.size(), 1u);
  EXPECT_EQ(h.tracker.stats().shed_idle, 1u);
  h.tracker.Sweep(2000);
  EXPECT_EQ(h.tracker.size(), 0u);
  EXPECT_EQ(h.sink.txns.size(), 1u);  // the request on conn 2 never got an answer
}

TEST(Tracker, CapacityShedsLeastRecentlyActive) {
  TrackerLimits l;
  l.max_connections = 2;
  Harness h(l);
  h.Open(1, 100, 5, Role::kServer, 1);
  h.Open(2, 100, 6, Role::kServer, 2);
  h.Send(1, 100, 5, Direction::kIngress, kGet, 3);  // conn 1 is now the fresher
  h.Open(3, 100, 7, Role::kServer, 4);
  EXPECT_EQ(h.tracker.size(), 2u);
  EXPECT_EQ(h.tracker.stats().shed_capacity, 1u);
  h.Send(1, 100, 5, Direction::kEgress, kOk, 5);
  EXPECT_EQ(h.sink.answered(), 1u);
}

TEST(Tracker, DataWithoutOpenIsTrackedImplicitly) {
  Harness h;
  h.Send(9, 100, 5, Direction::kIngress, kGet, 1000);
  h.Send(9, 100, 5, Direction::kEgress, kOk, 2000);
  EXPECT_EQ(h.tracker.stats().implicit_opens, 1u);
  EXPECT_EQ(h.sink.answered(), 1u);
}

TEST(Tracker, PreExistingConnectionObservedFromNextRequest) {
  Harness h;
  h.Open(1, 100, 5, Role::kUnknown);
  // Mid-body bytes of an earlier response come first and are ignored.
  h.seq[1][1] = 5000;
  h.seq[1][0] = 700;
  h.Send(1, 100, 5, Direction::kEgress, "tail of an old body", 900);
  h.Send(1, 100, 5, Direction::kIngress, kGet, 1000);
  h.Send(1, 100, 5, Direction::kEgress, kOk, 2000);
  ASSERT_EQ(h.sink.answered(), 1u);
  EXPECT_EQ(h.sink.txns[0].t.side, http1::Side::kServer);
  EXPECT_TRUE(h.sink.errors.empty());
}

TEST(Tracker, CloseForUnknownConnectionIsCounted) {
  Harness h;
  h.Close(42, 1, 1, 10);
  EXPECT_EQ(h.tracker.stats().unknown_close, 1u);
}

}  // namespace

namespace {

TEST(Tracker, ProcessExitClosesItsConnectionsOnly) {
  Harness h;
  h.Open(1, 100, 5, Role::kClient);
  h.Open(2, 100, 6, Role::kClient);
  h.Open(3, 101, 5, Role::kClient);
  h.Send(1, 100, 5, Direction::kEgress, kGet, 10);
  h.Send(3, 101, 5, Direction::kEgress, kGet, 11);
  h.tracker.OnProcessExit({20, 100});
  EXPECT_EQ(h.tracker.size(), 1u);
  EXPECT_EQ(h.tracker.stats().closed_by_exit, 2u);
  ASSERT_EQ(h.sink.txns.size(), 1u);  // conn 1's request, unanswered
  EXPECT_EQ(h.sink.txns[0].conn_id, 1u);
  EXPECT_FALSE(h.sink.txns[0].t.answered);
}

}  // namespace

namespace {

TEST(Tracker, RequestCutShortByCloseIsUnanswered) {
  Harness h;
  h.Open(1, 100, 5, Role::kServer);
  h.Send(1, 100, 5, Direction::kIngress, "GET /api/health HTTP/1.1\r\nHost: x\r\nUser-", 1000);
  h.Close(1, 100, 5, 2000);
  ASSERT_EQ(h.sink.txns.size(), 1u);
  EXPECT_FALSE(h.sink.txns[0].t.answered);
  EXPECT_EQ(h.sink.txns[0].t.method, "GET");
  EXPECT_EQ(h.sink.txns[0].t.target, "/api/health");
  EXPECT_EQ(h.sink.txns[0].t.request_start_ns, 1000u);
}

TEST(Tracker, GarbageCutShortByCloseIsNotARequest) {
  Harness h;
  h.Open(1, 100, 5, Role::kServer);
  h.Send(1, 100, 5, Direction::kIngress, "GET", 1000);  // not even a method and a space
  h.Close(1, 100, 5, 2000);
  EXPECT_TRUE(h.sink.txns.empty());
}

}  // namespace
