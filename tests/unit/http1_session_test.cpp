// HTTP/1.x session stitching fed by synthetic data events: exact
// transactions and timestamps for well-formed exchanges (whole, byte by byte,
// every split, every prefix), pipelining, message boundaries inside chunks,
// close, limits, side inference and protocol switches.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http1_session_test_util.h"
#include "protocols/http1/session.h"

namespace sightline::http1 {
namespace {

using namespace std::string_literals;
using namespace sightline::http1::test_util;

// ---------------------------------------------------------------------------
// Well-formed exchanges

struct ExchangeCase {
  const char* name;
  std::string request;   // the whole request, body included
  std::string response;  // the whole response; may start with interim 1xx
  std::string method;
  std::string target;
  std::string host;
  int status;
  uint64_t request_body;
  uint64_t response_body;
  size_t final_response_offset;  // where the final response starts
  bool needs_close;              // the response body runs until close
  bool opaque;                   // the connection switches protocol
};

const std::vector<ExchangeCase>& ExchangeCases() {
  static const std::vector<ExchangeCase> cases = {
      {"get", "GET /api/x?y=1 HTTP/1.1\r\nHost: api.test\r\n\r\n",
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", "/api/x?y=1",
       "api.test", 200, 0, 5, 0, false, false},
      {"post_length",
       "POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello "
       "world",
       "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", "POST", "/submit",
       "h", 201, 11, 2, 0, false, false},
      {"head_with_length", "HEAD /file HTTP/1.1\r\nHost: h\r\n\r\n",
       "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", "HEAD", "/file", "h",
       200, 0, 0, 0, false, false},
      {"put_chunked",
       "PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n",
       "HTTP/1.1 204 No Content\r\n\r\n", "PUT", "/u", "h", 204, 8, 0, 0, false,
       false},
      {"delete_chunked_response", "DELETE /items/7 HTTP/1.1\r\nHost: h\r\n\r\n",
       "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nnot "
       "found\r\n0\r\n\r\n",
       "DELETE", "/items/7", "h", 404, 0, 9, 0, false, false},
      {"patch", "PATCH /p/1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}",
       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "PATCH", "/p/1", "h",
       200, 2, 0, 0, false, false},
      {"options", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
       "HTTP/1.1 200 OK\r\nAllow: GET\r\nContent-Length: 0\r\n\r\n", "OPTIONS",
       "*", "h", 200, 0, 0, 0, false, false},
      {"http10_until_close", "GET /old HTTP/1.0\r\n\r\n",
       "HTTP/1.0 200 OK\r\n\r\nlegacy body", "GET", "/old", "", 200, 0, 11, 0,
       true, false},
      {"http10_keep_alive",
       "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
       "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: "
       "3\r\n\r\nabc",
       "GET", "/ka", "", 200, 0, 3, 0, false, false},
      {"expect_continue",
       "POST /up HTTP/1.1\r\nHost: h\r\nExpect: "
       "100-continue\r\nContent-Length: 4\r\n\r\ndata",
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: "
       "2\r\n\r\nok",
       "POST", "/up", "h", 200, 4, 2, 25, false, false},
      {"not_modified",
       "GET /cached HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"x\"\r\n\r\n",
       "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: "
       "100\r\n\r\n",
       "GET", "/cached", "h", 304, 0, 0, 0, false, false},
      {"chunked_trailers", "GET /t HTTP/1.1\r\nHost: h\r\n\r\n",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
       "4;a=b\r\nwiki\r\n5\r\npedia\r\n0\r\nX-Sum: 9\r\n\r\n",
       "GET", "/t", "h", 200, 0, 9, 0, false, false},
      {"until_close_stream", "GET /events HTTP/1.1\r\nHost: h\r\n\r\n",
       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: "
       "1\n\ndata: 2\n\n",
       "GET", "/events", "h", 200, 0, 18, 0, true, false},
      {"bare_lf", "GET /lf HTTP/1.1\nHost: h\n\n",
       "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", "GET", "/lf", "h", 200, 0, 2,
       0, false, false},
      {"switching_protocols",
       "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: "
       "Upgrade\r\n\r\n",
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
       "Upgrade\r\n\r\n",
       "GET", "/ws", "h", 101, 0, 0, 0, false, true},
      {"connect_tunnel",
       "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n",
       "HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT",
       "db.internal:5432", "db.internal:5432", 200, 0, 0, 0, false, true},
  };
  return cases;
}

struct ExchangeParam {
  ExchangeCase c;
  Side side;
};

std::vector<ExchangeParam> ExchangeParams() {
  std::vector<ExchangeParam> out;
  for (const ExchangeCase& c : ExchangeCases()) {
    out.push_back({c, Side::kServer});
    out.push_back({c, Side::kClient});
  }
  return out;
}

class ExchangeTable : public ::testing::TestWithParam<ExchangeParam> {
 protected:
  void ExpectFields(const Transaction& t) const {
    const ExchangeCase& c = GetParam().c;
    EXPECT_EQ(t.side, GetParam().side);
    EXPECT_EQ(t.method, c.method);
    EXPECT_EQ(t.target, c.target);
    EXPECT_EQ(t.host, c.host);
    EXPECT_EQ(t.status, c.status);
    EXPECT_TRUE(t.answered);
    EXPECT_EQ(t.request_body_bytes, c.request_body);
    EXPECT_EQ(t.response_body_bytes, c.response_body);
  }
};

TEST_P(ExchangeTable, WholeMessagesGiveOneTransaction) {
  const ExchangeCase& c = GetParam().c;
  const Side side = GetParam().side;
  Session session(side);
  Recorder rec;
  session.OnData(RequestStream(side), c.request, 1000, rec);
  session.OnData(ResponseStream(side), c.response, 2000, rec);
  EXPECT_EQ(rec.txns.size(), c.needs_close ? 0u : 1u);
  EXPECT_EQ(session.opaque(), c.opaque);
  session.OnClose(3000, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.TotalErrors(), 0) << ErrorSummary(rec);
  const Transaction& t = rec.txns[0];
  ExpectFields(t);
  EXPECT_EQ(t.request_start_ns, 1000u);
  EXPECT_EQ(t.request_end_ns, 1000u);
  EXPECT_EQ(t.response_start_ns, 2000u);
  EXPECT_EQ(t.response_end_ns, 2000u);
  EXPECT_EQ(session.buffered_bytes(), 0u);
}

TEST_P(ExchangeTable, ByteByByteKeepsFirstAndLastByteTimes) {
  const ExchangeCase& c = GetParam().c;
  const Side side = GetParam().side;
  Session session(side);
  Recorder rec;
  for (size_t i = 0; i < c.request.size(); ++i) {
    session.OnData(RequestStream(side), c.request.substr(i, 1), 10000 + i, rec);
  }
  for (size_t i = 0; i < c.response.size(); ++i) {
    session.OnData(ResponseStream(side), c.response.substr(i, 1), 20000 + i,
                   rec);
  }
  session.OnClose(30000, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.TotalErrors(), 0) << ErrorSummary(rec);
  const Transaction& t = rec.txns[0];
  ExpectFields(t);
  EXPECT_EQ(t.request_start_ns, 10000u);
  EXPECT_EQ(t.request_end_ns, 10000u + c.request.size() - 1);
  EXPECT_EQ(t.response_start_ns, 20000u + c.final_response_offset);
  EXPECT_EQ(t.response_end_ns, 20000u + c.response.size() - 1);
}

TEST_P(ExchangeTable, EveryTwoWaySplitKeepsExactTimes) {
  const ExchangeCase& c = GetParam().c;
  const Side side = GetParam().side;
  for (size_t k = 1; k < c.request.size(); ++k) {
    Session session(side);
    Recorder rec;
    session.OnData(RequestStream(side), c.request.substr(0, k), 100, rec);
    session.OnData(RequestStream(side), c.request.substr(k), 200, rec);
    session.OnData(ResponseStream(side), c.response, 300, rec);
    session.OnClose(400, rec);
    ASSERT_EQ(rec.txns.size(), 1u) << k;
    ASSERT_EQ(rec.TotalErrors(), 0) << k;
    EXPECT_EQ(rec.txns[0].request_start_ns, 100u);
    EXPECT_EQ(rec.txns[0].request_end_ns, 200u);
    EXPECT_EQ(rec.txns[0].request_body_bytes, c.request_body);
  }
  for (size_t k = 1; k < c.response.size(); ++k) {
    Session session(side);
    Recorder rec;
    session.OnData(RequestStream(side), c.request, 100, rec);
    session.OnData(ResponseStream(side), c.response.substr(0, k), 200, rec);
    session.OnData(ResponseStream(side), c.response.substr(k), 300, rec);
    session.OnClose(400, rec);
    ASSERT_EQ(rec.txns.size(), 1u) << k;
    ASSERT_EQ(rec.TotalErrors(), 0) << k;
    const Transaction& t = rec.txns[0];
    EXPECT_EQ(t.response_start_ns, k > c.final_response_offset ? 200u : 300u)
        << k;
    EXPECT_EQ(t.response_end_ns, 300u) << k;
    EXPECT_EQ(t.response_body_bytes, c.response_body) << k;
    EXPECT_EQ(t.status, c.status);
  }
}

TEST_P(ExchangeTable, EveryIncompletePrefixGivesNothing) {
  const ExchangeCase& c = GetParam().c;
  const Side side = GetParam().side;
  for (size_t k = 0; k < c.request.size(); ++k) {
    Session session(side);
    Recorder rec;
    session.OnData(RequestStream(side), c.request.substr(0, k), 1, rec);
    ASSERT_TRUE(rec.txns.empty()) << k;
    ASSERT_EQ(rec.TotalErrors(), 0) << k;
  }
  for (size_t k = 0; k < c.response.size(); ++k) {
    Session session(side);
    Recorder rec;
    session.OnData(RequestStream(side), c.request, 1, rec);
    session.OnData(ResponseStream(side), c.response.substr(0, k), 2, rec);
    ASSERT_TRUE(rec.txns.empty()) << k;
    ASSERT_EQ(rec.TotalErrors(), 0) << k;
    // A cut-short exchange is still reported on close, unanswered unless
    // its body runs until close.
    session.OnClose(3, rec);
    ASSERT_EQ(rec.txns.size(), 1u);
    if (!c.needs_close) {
      ASSERT_FALSE(rec.txns[0].answered) << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Http1, ExchangeTable,
                         ::testing::ValuesIn(ExchangeParams()),
                         [](const auto& info) {
                           return std::string(info.param.c.name) +
                                  (info.param.side == Side::kServer
                                       ? "_server"
                                       : "_client");
                         });

// ---------------------------------------------------------------------------
// Pipelining and message boundaries

const std::string kThreeRequests =
    "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    "HEAD /c HTTP/1.1\r\nHost: h\r\n\r\n";
const std::string kResponseA = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
const std::string kResponseB =
    "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
const std::string kResponseC = "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n";

TEST(Http1Session, PipelinedRequestsAndResponsesInOneChunkEach) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress, kThreeRequests, 100, rec);
  EXPECT_TRUE(rec.txns.empty());
  session.OnData(Stream::kEgress, kResponseA + kResponseB + kResponseC, 200,
                 rec);
  ASSERT_EQ(rec.txns.size(), 3u);
  const std::array<std::string, 3> targets = {"/a", "/b", "/c"};
  const std::array<int, 3> statuses = {200, 201, 200};
  const std::array<uint64_t, 3> request_bodies = {0, 3, 0};
  const std::array<uint64_t, 3> response_bodies = {1, 0, 0};
  for (size_t i = 0; i < 3; ++i) {
    const Transaction& t = rec.txns[i];
    EXPECT_EQ(t.target, targets[i]);
    EXPECT_EQ(t.status, statuses[i]);
    EXPECT_EQ(t.request_body_bytes, request_bodies[i]);
    EXPECT_EQ(t.response_body_bytes, response_bodies[i]);
    EXPECT_TRUE(t.answered);
    EXPECT_EQ(t.request_start_ns, 100u);
    EXPECT_EQ(t.request_end_ns, 100u);
    EXPECT_EQ(t.response_start_ns, 200u);
    EXPECT_EQ(t.response_end_ns, 200u);
  }
  EXPECT_EQ(rec.TotalErrors(), 0);
}

TEST(Http1Session, PipelinedResponsesSpreadOverChunks) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress, kThreeRequests, 100, rec);
  // Response A ends in the chunk that also starts B; C comes whole later.
  const std::string ab = kResponseA + kResponseB;
  session.OnData(Stream::kEgress, ab.substr(0, 10), 200, rec);
  session.OnData(Stream::kEgress, ab.substr(10, kResponseA.size() - 10 + 5),
                 300, rec);
  EXPECT_EQ(rec.txns.size(), 1u);
  session.OnData(Stream::kEgress, ab.substr(kResponseA.size() + 5), 400, rec);
  EXPECT_EQ(rec.txns.size(), 2u);
  session.OnData(Stream::kEgress, kResponseC, 500, rec);
  ASSERT_EQ(rec.txns.size(), 3u);
  EXPECT_EQ(rec.txns[0].response_start_ns, 200u);
  EXPECT_EQ(rec.txns[0].response_end_ns, 300u);
  EXPECT_EQ(rec.txns[1].response_start_ns, 300u);
  EXPECT_EQ(rec.txns[1].response_end_ns, 400u);
  EXPECT_EQ(rec.txns[2].response_start_ns, 500u);
  EXPECT_EQ(rec.txns[2].response_end_ns, 500u);
  EXPECT_EQ(rec.txns[2].status, 200);
  EXPECT_EQ(rec.txns[2].response_body_bytes,
            0u);  // HEAD: Content-Length is not a body
  EXPECT_EQ(rec.TotalErrors(), 0);
}

TEST(Http1Session, KeepAliveBoundariesInsideChunks) {
  Session session(Side::kClient);
  Recorder rec;
  // The first body ends in the chunk that starts the second request, and a
  // stray CRLF after a body is not an error.
  session.OnData(Stream::kEgress,
                 "POST /1 HTTP/1.1\r\nContent-Length: 4\r\n\r\nab", 1, rec);
  session.OnData(Stream::kEgress, "cd\r\nGET /2 HTTP/1.1\r\n", 2, rec);
  session.OnData(Stream::kEgress, "\r\n", 3, rec);
  session.OnData(
      Stream::kIngress,
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\n"
      "Content-Length: 0\r\n\r\n",
      4, rec);
  ASSERT_EQ(rec.txns.size(), 2u);
  EXPECT_EQ(rec.txns[0].side, Side::kClient);
  EXPECT_EQ(rec.txns[0].request_start_ns, 1u);
  EXPECT_EQ(rec.txns[0].request_end_ns, 2u);
  EXPECT_EQ(rec.txns[0].request_body_bytes, 4u);
  EXPECT_EQ(rec.txns[1].target, "/2");
  EXPECT_EQ(rec.txns[1].request_start_ns, 2u);
  EXPECT_EQ(rec.txns[1].request_end_ns, 3u);
  EXPECT_EQ(rec.txns[1].status, 404);
  EXPECT_EQ(rec.TotalErrors(), 0);
}

TEST(Http1Session, ContinueThenBodyThenFinalResponse) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(
      Stream::kIngress,
      "PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", 1,
      rec);
  session.OnData(Stream::kEgress, "HTTP/1.1 100 Continue\r\n\r\n", 2, rec);
  session.OnData(Stream::kIngress, "abc", 3, rec);
  EXPECT_TRUE(rec.txns.empty());
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 4, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.txns[0].status, 201);
  EXPECT_EQ(rec.txns[0].request_end_ns, 3u);
  EXPECT_EQ(rec.txns[0].response_start_ns, 4u);
  EXPECT_EQ(rec.TotalErrors(), 0);
}

TEST(Http1Session, EarlyResponseWaitsForTheRequestBody) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress,
                 "POST /big HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc", 1, rec);
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n", 2, rec);
  EXPECT_TRUE(rec.txns.empty());
  session.OnData(Stream::kIngress, "def", 3, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.txns[0].status, 413);
  EXPECT_EQ(rec.txns[0].request_body_bytes, 6u);
  EXPECT_EQ(rec.txns[0].request_end_ns, 3u);
}

// ---------------------------------------------------------------------------
// Close, limits, side inference, protocol switch

TEST(Http1Session, CloseEmitsWaitingRequestsUnanswered) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress,
                 "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", 1, rec);
  session.OnClose(2, rec);
  ASSERT_EQ(rec.txns.size(), 2u);
  EXPECT_EQ(rec.Unanswered(), 2u);
  EXPECT_EQ(rec.txns[0].target, "/1");
  EXPECT_EQ(rec.txns[1].target, "/2");
  EXPECT_EQ(rec.txns[0].status, 0);
  session.OnClose(3, rec);  // a second close changes nothing
  session.OnData(Stream::kIngress, kGet, 4, rec);
  EXPECT_EQ(rec.txns.size(), 2u);
  EXPECT_EQ(rec.TotalErrors(), 0);
}

TEST(Http1Session, ResetMidResponseKeepsStatusAndPartialBody) {
  Session session(Side::kClient);
  Recorder rec;
  session.OnData(Stream::kEgress, "GET /file HTTP/1.1\r\nHost: cdn\r\n\r\n", 1,
                 rec);
  session.OnData(Stream::kIngress,
                 "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", 2,
                 rec);
  session.OnData(Stream::kIngress, "abcde", 3, rec);
  session.OnClose(4, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  const Transaction& t = rec.txns[0];
  EXPECT_FALSE(t.answered);
  EXPECT_EQ(t.status, 200);
  EXPECT_EQ(t.host, "cdn");
  EXPECT_EQ(t.response_body_bytes, 15u);
  EXPECT_EQ(t.response_start_ns, 2u);
  EXPECT_EQ(t.response_end_ns, 3u);
  EXPECT_EQ(rec.TotalErrors(), 0);
}

TEST(Http1Session, TooManyPendingEmitsTheOldest) {
  Session session(Side::kServer, Limits{65536, 2});
  Recorder rec;
  session.OnData(Stream::kIngress,
                 "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", 1, rec);
  EXPECT_EQ(rec.TotalErrors(), 0);
  session.OnData(Stream::kIngress, "GET /3 HTTP/1.1\r\n\r\n", 2, rec);
  EXPECT_EQ(rec.Errors(ErrorKind::kTooManyPending), 1);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.txns[0].target, "/1");
  EXPECT_FALSE(rec.txns[0].answered);
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                 "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
                 3, rec);
  ASSERT_EQ(rec.txns.size(), 3u);
  EXPECT_EQ(rec.txns[1].target, "/2");
  EXPECT_EQ(rec.txns[1].status, 200);
  EXPECT_EQ(rec.txns[2].target, "/3");
  EXPECT_EQ(rec.txns[2].status, 201);
  EXPECT_EQ(rec.TotalErrors(), 1);
}

TEST(Http1Session, UnknownSideInferredAsServer) {
  Session session(Side::kUnknown);
  Recorder rec;
  EXPECT_EQ(session.side(), Side::kUnknown);
  // Mid-stream leftovers of earlier messages on both streams.
  session.OnData(Stream::kEgress, "of an earlier response body", 1, rec);
  session.OnData(Stream::kIngress, "\"tail\": \"of a request body\"}", 2, rec);
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3, rec);
  session.OnGap(Stream::kIngress, 10, 4, rec);
  EXPECT_EQ(session.side(), Side::kUnknown);
  session.OnData(Stream::kIngress, "GET /x HTTP/1.1\r\nHost: svc\r\n\r\n", 5,
                 rec);
  EXPECT_EQ(session.side(), Side::kServer);
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 6, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.txns[0].side, Side::kServer);
  EXPECT_EQ(rec.txns[0].target, "/x");
  EXPECT_EQ(rec.txns[0].response_body_bytes, 2u);
  EXPECT_EQ(rec.TotalErrors(), 0) << ErrorSummary(rec);
}

TEST(Http1Session, UnknownSideInferredAsClientFromASplitRequestLine) {
  Session session(Side::kUnknown);
  Recorder rec;
  session.OnData(Stream::kIngress, "HTTP/1.1 204 No Content\r\n\r\n", 1, rec);
  session.OnData(Stream::kEgress, "POS", 2, rec);
  EXPECT_EQ(session.side(), Side::kUnknown);
  session.OnData(
      Stream::kEgress,
      "T /v1/chat HTTP/1.1\r\nHost: api\r\nContent-Length: 2\r\n\r\n{}", 3,
      rec);
  EXPECT_EQ(session.side(), Side::kClient);
  session.OnData(Stream::kIngress,
                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 4, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.txns[0].side, Side::kClient);
  EXPECT_EQ(rec.txns[0].method, "POST");
  EXPECT_EQ(rec.txns[0].request_start_ns, 2u);
  EXPECT_EQ(rec.txns[0].request_body_bytes, 2u);
  EXPECT_EQ(rec.TotalErrors(), 0);
}

TEST(Http1Session, SwitchedProtocolIsOpaque) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress,
                 "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\nGET /after "
                 "HTTP/1.1\r\n\r\n",
                 1, rec);
  session.OnData(
      Stream::kEgress,
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"s,
      2, rec);
  EXPECT_TRUE(session.opaque());
  ASSERT_EQ(rec.txns.size(), 2u);
  EXPECT_TRUE(rec.txns[0].answered);
  EXPECT_EQ(rec.txns[0].status, 101);
  EXPECT_FALSE(rec.txns[1].answered);  // nothing can answer it any more
  session.OnData(Stream::kIngress, "\x81\x85garbage"s, 3, rec);
  session.OnGap(Stream::kIngress, 10, 4, rec);
  session.OnClose(5, rec);
  EXPECT_EQ(rec.txns.size(), 2u);
  EXPECT_EQ(rec.TotalErrors(), 0);
  EXPECT_EQ(session.buffered_bytes(), 0u);
}

TEST(Http1Session, ErrorKindNames) {
  EXPECT_EQ(ErrorKindName(ErrorKind::kInvalidRequest), "invalid_request");
  EXPECT_EQ(ErrorKindName(ErrorKind::kInvalidResponse), "invalid_response");
  EXPECT_EQ(ErrorKindName(ErrorKind::kHeadTooLarge), "head_too_large");
  EXPECT_EQ(ErrorKindName(ErrorKind::kGap), "gap");
  EXPECT_EQ(ErrorKindName(ErrorKind::kUnmatchedResponse), "unmatched_response");
  EXPECT_EQ(ErrorKindName(ErrorKind::kTooManyPending), "too_many_pending");
}

}  // namespace
}  // namespace sightline::http1
