// TLS plaintext on the connection tracker: sessions tied to their connection
// at once or later (a bind), the HTTP/2 preface, unbound plaintext shed with
// a count, and the plaintext/opaque verdict at close.
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
using sightline::decode::ConnProtocol;
using sightline::decode::Direction;
using sightline::decode::ProcessExit;
using sightline::decode::Role;
using sightline::decode::TlsBind;
using sightline::decode::TlsData;
namespace http1 = sightline::http1;

struct Sink : sightline::conn::TransactionSink {
  std::vector<std::pair<ConnectionInfo, http1::Transaction>> txns;
  size_t errors = 0;
  void OnHttp(const ConnectionInfo& c, const http1::Transaction& t) override {
    txns.push_back({c, t});
  }
  void OnHttpError(const ConnectionInfo&, http1::ErrorKind) override { errors++; }
};

constexpr std::string_view kGet = "GET /v1/items/7 HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
constexpr uint64_t kSsl = 0x5555deadbeef;

struct Harness {
  Sink sink;
  ConnectionTracker tracker;
  uint64_t seq[2] = {};

  explicit Harness(TrackerLimits l = {}) : tracker(l, sink) {}

  void Open(uint64_t id, Role role, uint32_t pid = 10, uint32_t fd = 5) {
    ConnOpen o;
    o.timestamp_ns = 1;
    o.pid = pid;
    o.fd = fd;
    o.conn_id = id;
    o.role = role;
    o.remote = {"10.0.0.9", 443};
    tracker.OnOpen(o);
    ConnProtocol p;
    p.timestamp_ns = 2;
    p.pid = pid;
    p.fd = fd;
    p.conn_id = id;
    p.role = role;
    p.protocol = SL_PROTO_TLS;
    tracker.OnProtocol(p);
  }
  void Tls(uint64_t conn_id, Direction dir, std::string_view bytes, uint64_t ts, uint32_t pid = 10,
           uint64_t ssl = kSsl) {
    TlsData d;
    d.timestamp_ns = ts;
    d.pid = pid;
    d.conn_id = conn_id;
    d.tls_id = ssl;
    d.direction = dir;
    d.payload = bytes;
    d.orig_len = bytes.size();
    d.seq = seq[int(dir)];
    seq[int(dir)] += bytes.size();
    tracker.OnTlsData(d);
  }
  void Bind(uint64_t conn_id, uint64_t ts, uint32_t pid = 10, uint64_t ssl = kSsl) {
    tracker.OnTlsBind(TlsBind{ts, pid, conn_id, ssl, 5});
  }
  void Close(uint64_t id, uint64_t ts, uint32_t pid = 10, uint32_t fd = 5) {
    ConnClose c;
    c.timestamp_ns = ts;
    c.pid = pid;
    c.fd = fd;
    c.conn_id = id;
    c.protocol = SL_PROTO_TLS;
    tracker.OnClose(c);
  }
};

TEST(TrackerTls, BoundPlaintextIsParsedOnItsConnection) {
  Harness h;
  h.Open(1, Role::kClient);
  h.Tls(1, Direction::kEgress, kGet, 100);
  h.Tls(1, Direction::kIngress, kOk, 300);
  ASSERT_EQ(h.sink.txns.size(), 1u);
  const auto& [conn, t] = h.sink.txns[0];
  EXPECT_EQ(conn.conn_id, 1u);
  EXPECT_EQ(conn.role, Role::kClient);
  EXPECT_EQ(conn.remote.port, 443);
  EXPECT_EQ(t.method, "GET");
  EXPECT_EQ(t.status, 200);
  EXPECT_EQ(t.response_body_bytes, 5u);
  h.Close(1, 400);
  EXPECT_EQ(h.tracker.stats().tls_plaintext, 1u);
  EXPECT_EQ(h.tracker.stats().tls_opaque, 0u);
}

TEST(TrackerTls, PlaintextSentBeforeItsConnectionWaitsForTheBind) {
  Harness h;
  h.Open(3, Role::kClient);
  h.Tls(0, Direction::kEgress, kGet.substr(0, 10), 100);  // a memory BIO: socket not known yet
  h.Tls(0, Direction::kEgress, kGet.substr(10), 110);
  EXPECT_GT(h.tracker.buffered_bytes(), 0u);
  h.Bind(3, 120);
  h.Tls(3, Direction::kIngress, kOk, 200);
  ASSERT_EQ(h.sink.txns.size(), 1u);
  EXPECT_EQ(h.sink.txns[0].first.conn_id, 3u);
  EXPECT_EQ(h.sink.txns[0].second.status, 200);
  EXPECT_EQ(h.tracker.stats().tls_unbound_events, 0u);
}

TEST(TrackerTls, AnEventCarryingTheConnectionAlsoReleasesWhatWaited) {
  Harness h;
  h.Open(4, Role::kServer);
  h.Tls(0, Direction::kIngress, kGet, 100);  // first read before the socket was known
  h.Tls(4, Direction::kEgress, kOk, 200);
  ASSERT_EQ(h.sink.txns.size(), 1u);
  EXPECT_EQ(h.sink.txns[0].first.role, Role::kServer);
  EXPECT_EQ(h.sink.txns[0].second.target, "/v1/items/7");
}

TEST(TrackerTls, UnboundPlaintextIsDroppedAndCountedAfterTheTimeout) {
  TrackerLimits l;
  l.unbound_timeout_ns = 1000;
  Harness h(l);
  h.Tls(0, Direction::kEgress, kGet, 100);
  h.Tls(0, Direction::kEgress, kGet, 150);
  h.tracker.Sweep(1099);
  EXPECT_EQ(h.tracker.stats().tls_unbound_events, 0u);
  h.tracker.Sweep(1100);
  EXPECT_EQ(h.tracker.stats().tls_unbound_events, 2u);
  EXPECT_EQ(h.tracker.stats().tls_unbound_bytes, 2 * kGet.size());
  EXPECT_EQ(h.tracker.buffered_bytes(), 0u);
}

TEST(TrackerTls, UnboundPlaintextPastTheBudgetIsCounted) {
  TrackerLimits l;
  l.max_unbound_bytes = kGet.size() + 1;
  Harness h(l);
  h.Tls(0, Direction::kEgress, kGet, 100);
  h.Tls(0, Direction::kEgress, kGet, 110);
  EXPECT_EQ(h.tracker.stats().tls_unbound_events, 1u);
  EXPECT_EQ(h.tracker.stats().tls_unbound_bytes, kGet.size());
}

TEST(TrackerTls, ProcessExitDropsItsUnboundPlaintext) {
  Harness h;
  h.Tls(0, Direction::kEgress, kGet, 100, 77);
  h.Tls(0, Direction::kEgress, kGet, 100, 78, 0x1234);
  h.tracker.OnProcessExit(ProcessExit{200, 77});
  EXPECT_EQ(h.tracker.stats().tls_unbound_events, 1u);
  EXPECT_EQ(h.tracker.buffered_bytes(), kGet.size());
}

TEST(TrackerTls, Http2PrefaceIsCountedAndNotParsed) {
  Harness h;
  h.Open(5, Role::kClient);
  h.Tls(5, Direction::kEgress, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04", 100);
  h.Tls(5, Direction::kIngress, std::string_view("\x00\x00\x06\x04\x00\x00\x00\x00\x00", 9), 200);
  EXPECT_EQ(h.tracker.stats().http2_tls, 1u);
  EXPECT_EQ(h.sink.txns.size(), 0u);
  EXPECT_EQ(h.sink.errors, 0u);
}

TEST(TrackerTls, TlsWithoutPlaintextIsOpaqueAtClose) {
  Harness h;
  h.Open(6, Role::kClient);
  h.Close(6, 100);
  h.Open(7, Role::kClient, 11, 6);
  h.tracker.OnProcessExit(ProcessExit{200, 11});  // closed by exit: still judged
  EXPECT_EQ(h.tracker.stats().tls_opaque, 2u);
  EXPECT_EQ(h.tracker.stats().tls_plaintext, 0u);
}

TEST(TrackerTls, ConnectionFoundMidLifeStartsAtTheFirstPlaintext) {
  Harness h;  // no open event: the daemon started after the connection
  h.Tls(9, Direction::kEgress, kGet, 100);
  h.Tls(9, Direction::kIngress, kOk, 200);
  ASSERT_EQ(h.sink.txns.size(), 1u);
  EXPECT_EQ(h.sink.txns[0].second.status, 200);
  EXPECT_EQ(h.tracker.stats().implicit_opens, 1u);
}

}  // namespace

namespace {

TEST(TrackerTls, Http2ServerSettingsBeforeThePrefaceIsHttp2) {
  Harness h;
  h.Open(8, Role::kServer);
  // A server may send its SETTINGS frame before it reads the client's preface.
  h.Tls(8, Direction::kEgress, std::string_view("\x00\x00\x0c\x04\x00\x00\x00\x00\x00\x00\x03", 11),
        100);
  h.Tls(8, Direction::kIngress, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 200);
  EXPECT_EQ(h.tracker.stats().http2_tls, 1u);
  EXPECT_EQ(h.sink.errors, 0u);
  EXPECT_EQ(h.sink.txns.size(), 0u);
}

}  // namespace
