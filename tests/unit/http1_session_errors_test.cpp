// HTTP/1.x session under bad conditions: gaps (skippable or not), invalid
// input with exact error counts, resync, oversized heads, and random input.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
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
// Gaps

TEST(Http1Session, GapInsideKnownBodiesIsSkipped) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress,
                 "POST /u HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 1, rec);
  session.OnGap(Stream::kIngress, 5, 2, rec);
  session.OnData(Stream::kIngress, "de", 3, rec);
  session.OnData(
      Stream::kEgress,
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123", 4,
      rec);
  session.OnGap(Stream::kEgress, 10, 5, rec);
  session.OnData(Stream::kEgress, "ef\r\n0\r\n\r\n", 6, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.TotalErrors(), 0) << ErrorSummary(rec);
  const Transaction& t = rec.txns[0];
  EXPECT_EQ(t.request_body_bytes, 10u);
  EXPECT_EQ(t.request_end_ns, 3u);
  EXPECT_EQ(t.response_body_bytes, 16u);
  EXPECT_EQ(t.response_end_ns, 6u);
}

TEST(Http1Session, GapThatEndsABodyCompletesIt) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress, "GET / HTTP/1.1\r\n\r\n", 1, rec);
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 2, rec);
  session.OnGap(Stream::kEgress, 1000, 3, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.txns[0].response_body_bytes, 1000u);
  EXPECT_EQ(rec.txns[0].response_end_ns, 3u);
  EXPECT_EQ(rec.TotalErrors(), 0);
}

TEST(Http1Session, GapOutsideABodyDesyncsUntilAMessageStart) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress, "GET /lost HTTP/1.1\r\nHo", 1, rec);
  session.OnGap(Stream::kIngress, 40, 2, rec);
  EXPECT_EQ(rec.Errors(ErrorKind::kGap), 1);
  EXPECT_EQ(session.buffered_bytes(), 0u);
  session.OnData(Stream::kIngress, "st: h\r\n\r\n", 3,
                 rec);                         // the rest is dropped
  session.OnGap(Stream::kIngress, 7, 4, rec);  // already out of sync
  session.OnData(Stream::kIngress, "GET /next HTTP/1.1\r\n\r\n", 5, rec);
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 6, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.txns[0].target, "/next");
  EXPECT_EQ(rec.TotalErrors(), 1);
}

TEST(Http1Session, GapPastTheBodyEndDesyncs) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress,
                 "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", 1, rec);
  session.OnGap(Stream::kIngress, 10, 2, rec);
  EXPECT_EQ(rec.Errors(ErrorKind::kGap), 1);
  // The request itself was seen and can still be answered.
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_TRUE(rec.txns[0].answered);
  EXPECT_EQ(rec.txns[0].request_body_bytes, 2u);
}

TEST(Http1Session, ResponseGapReleasesWaitingRequests) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress,
                 "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", 1, rec);
  session.OnData(Stream::kEgress, "HTTP/1.1 200 OK\r\nContent-", 2, rec);
  session.OnGap(Stream::kEgress, 100, 3, rec);
  EXPECT_EQ(rec.Errors(ErrorKind::kGap), 1);
  ASSERT_EQ(rec.txns.size(), 2u);
  EXPECT_EQ(rec.Unanswered(), 2u);
  // Later responses find nobody waiting; later requests pair again.
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 4, rec);
  EXPECT_EQ(rec.Errors(ErrorKind::kUnmatchedResponse), 1);
  session.OnData(Stream::kIngress, "GET /3 HTTP/1.1\r\n\r\n", 5, rec);
  session.OnData(Stream::kEgress, "HTTP/1.1 204 No Content\r\n\r\n", 6, rec);
  ASSERT_EQ(rec.txns.size(), 3u);
  EXPECT_EQ(rec.txns[2].status, 204);
  EXPECT_EQ(rec.TotalErrors(), 2);
}

TEST(Http1Session, GapInUntilCloseBodyIsSkipped) {
  Session session(Side::kClient);
  Recorder rec;
  session.OnData(Stream::kEgress, "GET /dl HTTP/1.1\r\n\r\n", 1, rec);
  session.OnData(Stream::kIngress, "HTTP/1.1 200 OK\r\n\r\nabc", 2, rec);
  session.OnGap(Stream::kIngress, 4096, 3, rec);
  session.OnClose(9, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_TRUE(rec.txns[0].answered);
  EXPECT_EQ(rec.txns[0].response_body_bytes, 4099u);
  EXPECT_EQ(rec.txns[0].response_end_ns, 3u);
  EXPECT_EQ(rec.TotalErrors(), 0);
}

// ---------------------------------------------------------------------------
// Invalid input and resync

TEST(Http1Session, ResyncAfterGarbage) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress, "garbage\r\n\r\n", 1, rec);
  EXPECT_EQ(rec.Errors(ErrorKind::kInvalidRequest), 1);
  session.OnData(Stream::kIngress, "more garbage", 2, rec);
  session.OnData(Stream::kIngress, "OK", 3, rec);  // no method starts with "OK"
  session.OnData(Stream::kIngress, "GE", 4,
                 rec);  // a prefix of GET: held tentatively
  session.OnData(Stream::kIngress, "T /split HTTP/1.1\r\n\r\n", 5, rec);
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 6, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.txns[0].target, "/split");
  EXPECT_EQ(rec.txns[0].request_start_ns, 4u);
  EXPECT_EQ(rec.txns[0].request_end_ns, 5u);
  EXPECT_EQ(rec.TotalErrors(), 1);
}

TEST(Http1Session, ResyncPrefersAChunkThatStartsAMessage) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress, "\x01\x02\x03\r\n"s, 1, rec);
  EXPECT_EQ(rec.Errors(ErrorKind::kInvalidRequest), 1);
  session.OnData(Stream::kIngress, "DEL", 2, rec);  // a prefix of DELETE...
  session.OnData(Stream::kIngress, "ightful", 3,
                 rec);  // ...that turns out not to be
  session.OnData(Stream::kIngress, "PO", 4, rec);  // held: a prefix of POST
  session.OnData(Stream::kIngress, "GET /real HTTP/1.1\r\n\r\n", 5, rec);
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 6, rec);
  session.OnClose(7, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.txns[0].target, "/real");
  EXPECT_EQ(rec.txns[0].request_start_ns, 5u);
  EXPECT_EQ(rec.TotalErrors(), 1) << ErrorSummary(rec);
}

TEST(Http1Session, InvalidResponseReleasesWaitingRequestsAndResyncs) {
  Session session(Side::kServer);
  Recorder rec;
  session.OnData(Stream::kIngress,
                 "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", 1, rec);
  session.OnData(Stream::kEgress, "HTTP/1.1 abc\r\n\r\n", 2, rec);
  EXPECT_EQ(rec.Errors(ErrorKind::kInvalidResponse), 1);
  ASSERT_EQ(rec.txns.size(), 2u);
  EXPECT_EQ(rec.Unanswered(), 2u);
  EXPECT_EQ(rec.txns[0].status, 0);
  session.OnData(Stream::kEgress, "trailing junk", 3, rec);
  session.OnData(Stream::kIngress, "GET /3 HTTP/1.1\r\n\r\n", 4, rec);
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5, rec);
  ASSERT_EQ(rec.txns.size(), 3u);
  EXPECT_TRUE(rec.txns[2].answered);
  EXPECT_EQ(rec.TotalErrors(), 1);
}

TEST(Http1Session, UnmatchedResponseIsCountedAndItsBodySkipped) {
  Session session(Side::kServer);
  Recorder rec;
  // The body looks like a response; it must not be parsed as one.
  session.OnData(
      Stream::kEgress,
      "HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\nHTTP/1.1 500 Oops\r\n", 1,
      rec);
  EXPECT_EQ(rec.Errors(ErrorKind::kUnmatchedResponse), 1);
  session.OnData(Stream::kIngress, "GET / HTTP/1.1\r\n\r\n", 2, rec);
  session.OnData(Stream::kEgress,
                 "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", 3, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.txns[0].status, 202);
  EXPECT_EQ(rec.TotalErrors(), 1);
}

struct InvalidSessionCase {
  const char* name;
  std::vector<std::string> requests;   // chunks on the request stream
  std::vector<std::string> responses;  // chunks on the response stream, after
  std::array<int, 6> errors;           // in kAllErrors order
  size_t transactions;                 // after close
  size_t unanswered;
};

class InvalidSessionTable
    : public ::testing::TestWithParam<InvalidSessionCase> {};

TEST_P(InvalidSessionTable, ExactErrorCounts) {
  const InvalidSessionCase& c = GetParam();
  for (const Side side : {Side::kServer, Side::kClient}) {
    Session session(side, Limits{1024, 256});
    Recorder rec;
    uint64_t ts = 1;
    for (const std::string& chunk : c.requests) {
      session.OnData(RequestStream(side), chunk, ts++, rec);
    }
    for (const std::string& chunk : c.responses) {
      session.OnData(ResponseStream(side), chunk, ts++, rec);
    }
    session.OnClose(ts, rec);
    EXPECT_EQ(rec.errors, c.errors) << ErrorSummary(rec);
    EXPECT_EQ(rec.txns.size(), c.transactions);
    EXPECT_EQ(rec.Unanswered(), c.unanswered);
    EXPECT_EQ(session.buffered_bytes(), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Http1, InvalidSessionTable,
    ::testing::Values(
        InvalidSessionCase{"garbage",
                           {"\x16\x03\x01\x00\xa5\x01\x00"s},
                           {},
                           {1, 0, 0, 0, 0, 0},
                           0,
                           0},
        InvalidSessionCase{"bad_request_line",
                           {"GET /a b HTTP/1.1\r\n\r\n"},
                           {},
                           {1, 0, 0, 0, 0, 0},
                           0,
                           0},
        InvalidSessionCase{"bad_status_line",
                           {kGet},
                           {"HTTP/1.1 2000 OK\r\n\r\n"},
                           {0, 1, 0, 0, 0, 0},
                           1,
                           1},
        InvalidSessionCase{"length_not_a_number",
                           {"POST / HTTP/1.1\r\nContent-Length: 1a\r\n\r\n1"},
                           {},
                           {1, 0, 0, 0, 0, 0},
                           0,
                           0},
        InvalidSessionCase{"length_negative",
                           {"POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n"},
                           {},
                           {1, 0, 0, 0, 0, 0},
                           0,
                           0},
        InvalidSessionCase{
            "length_overflow",
            {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"},
            {},
            {1, 0, 0, 0, 0, 0},
            0,
            0},
        InvalidSessionCase{"length_conflict",
                           {"POST / HTTP/1.1\r\nContent-Length: "
                            "1\r\nContent-Length: 2\r\n\r\n"},
                           {},
                           {1, 0, 0, 0, 0, 0},
                           0,
                           0},
        InvalidSessionCase{"response_length_conflict",
                           {kGet},
                           {"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n"},
                           {0, 1, 0, 0, 0, 0},
                           1,
                           1},
        InvalidSessionCase{
            "bad_chunk_size_request",
            {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"},
            {kOk},
            {1, 0, 0, 0, 0, 0},
            1,
            0},
        InvalidSessionCase{"bad_chunk_size_response",
                           {kGet},
                           {"HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                            "chunked\r\n\r\n5\r\nabcdeXX"},
                           {0, 1, 0, 0, 0, 0},
                           1,
                           1},
        InvalidSessionCase{"nul_in_header",
                           {"GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"s},
                           {},
                           {1, 0, 0, 0, 0, 0},
                           0,
                           0},
        InvalidSessionCase{"nul_in_status_line",
                           {kGet},
                           {"HTTP/1.1 200 O\0K\r\n\r\n"s},
                           {0, 1, 0, 0, 0, 0},
                           1,
                           1},
        InvalidSessionCase{
            "header_line_over_limit",
            {"GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n"},
            {},
            {0, 0, 1, 0, 0, 0},
            0,
            0},
        InvalidSessionCase{
            "response_head_over_limit",
            {kGet},
            {"HTTP/1.1 200 OK\r\n", "X: " + std::string(600, 'a') + "\r\n",
             "Y: " + std::string(600, 'b') + "\r\n"},
            {0, 0, 1, 0, 0, 0},
            1,
            1},
        InvalidSessionCase{"garbage_then_valid",
                           {"\x00\x00\x00\x00"s, "junk", kGet},
                           {kOk},
                           {1, 0, 0, 0, 0, 0},
                           1,
                           0},
        InvalidSessionCase{"response_without_request",
                           {},
                           {kOk, kOk},
                           {0, 0, 0, 0, 2, 0},
                           0,
                           0},
        InvalidSessionCase{"http2_preface",
                           {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
                           {},
                           {1, 0, 0, 0, 0, 0},
                           0,
                           0}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Http1Session, OversizedHeadIsDetectedBeforeItEndsAndStaysBounded) {
  const Limits limits{128, 256};
  Session session(Side::kServer, limits);
  Recorder rec;
  std::string head = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 20; ++i) head += "X-Pad: 0123456789\r\n";
  size_t fed = 0;
  for (; fed < head.size() && rec.TotalErrors() == 0; fed += 10) {
    session.OnData(Stream::kIngress, head.substr(fed, 10), fed, rec);
    EXPECT_LE(session.buffered_bytes(), limits.max_head_bytes + 1);
  }
  EXPECT_EQ(rec.Errors(ErrorKind::kHeadTooLarge), 1);
  EXPECT_LE(fed, 140u);  // right after the limit, not at the end of the head
  EXPECT_EQ(session.buffered_bytes(), 0u);
  session.OnData(Stream::kIngress, "\r\n", 500, rec);  // the rest of that head
  session.OnData(Stream::kIngress, kGet, 501, rec);
  session.OnData(Stream::kEgress, kOk, 502, rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.TotalErrors(), 1);
}

TEST(Http1Session, LargeHeadFedByteByByte) {
  std::string head = "GET /" + std::string(30000, 'a') + " HTTP/1.1\r\n";
  while (head.size() < 60000) head += "X-Pad: 0123456789abcdef\r\n";
  head += "\r\n";
  Session session(Side::kServer);
  Recorder rec;
  for (size_t i = 0; i < head.size(); ++i) {
    session.OnData(Stream::kIngress, std::string_view(head).substr(i, 1), i,
                   rec);
  }
  session.OnData(Stream::kEgress, kOk, head.size(), rec);
  ASSERT_EQ(rec.txns.size(), 1u);
  EXPECT_EQ(rec.txns[0].target.size(), 30001u);
  EXPECT_EQ(rec.txns[0].request_start_ns, 0u);
  EXPECT_EQ(rec.txns[0].request_end_ns, head.size() - 1);
  EXPECT_EQ(rec.TotalErrors(), 0);
}

TEST(Http1Session, BadHeaderDeepInAHeadIsCountedOnce) {
  std::string head = "GET / HTTP/1.1\r\n";
  while (head.size() < 3000) head += "X-Pad: 0123456789abcdef\r\n";
  head += "Bad Header: x\r\nX-More: y\r\n\r\n";
  Session session(Side::kServer);
  Recorder rec;
  for (size_t i = 0; i < head.size(); i += 7) {
    session.OnData(Stream::kIngress, std::string_view(head).substr(i, 7), i,
                   rec);
  }
  EXPECT_EQ(rec.Errors(ErrorKind::kInvalidRequest), 1);
  EXPECT_EQ(rec.TotalErrors(), 1);
  EXPECT_EQ(session.buffered_bytes(), 0u);
}

// ---------------------------------------------------------------------------
// Random input: no crash, memory stays bounded, nothing is left after close.

TEST(Http1Session, RandomInputStaysBounded) {
  std::mt19937_64 rng(20240611);
  const std::vector<std::string> pieces = {
      "GET / HTTP/1.1\r\n\r\n",
      "POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
      "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n",
      "CONNECT a:1 HTTP/1.1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.0 200 OK\r\n\r\n",
      "5\r\nhello\r\n",
      "0\r\n\r\n",
      "\r\n",
      "X-Long: " + std::string(300, 'x') + "\r\n",
      "Content-Length: 99999999999999999999999\r\n",
  };
  const Limits limits{256, 8};
  const size_t bound = 2 * (limits.max_head_bytes + 1) +
                       limits.max_pending_requests *
                           (sizeof(Transaction) + 3 * limits.max_head_bytes);
  size_t transactions = 0;
  int errors = 0;
  for (int round = 0; round < 300; ++round) {
    const Side side = static_cast<Side>(rng() % 3);
    Session session(side, limits);
    Recorder rec;
    std::array<std::string, 2> streams;
    for (std::string& s : streams) {
      const int parts = 1 + static_cast<int>(rng() % 30);
      for (int i = 0; i < parts; ++i) {
        if (rng() % 3 == 0) {
          const size_t n = rng() % 40;
          for (size_t j = 0; j < n; ++j)
            s.push_back(static_cast<char>(rng() % 256));
        } else {
          s += pieces[rng() % pieces.size()];
        }
      }
    }
    std::array<size_t, 2> pos = {0, 0};
    uint64_t ts = 0;
    while (pos[0] < streams[0].size() || pos[1] < streams[1].size()) {
      const size_t i = rng() % 2;
      const Stream stream = static_cast<Stream>(i);
      if (rng() % 20 == 0) {
        session.OnGap(stream, rng() % 64, ++ts, rec);
      } else if (pos[i] < streams[i].size()) {
        const size_t n = 1 + rng() % 64;
        session.OnData(stream, std::string_view(streams[i]).substr(pos[i], n),
                       ++ts, rec);
        pos[i] = std::min(streams[i].size(), pos[i] + n);
      }
      ASSERT_LE(session.buffered_bytes(), bound) << "round " << round;
    }
    session.OnClose(++ts, rec);
    EXPECT_EQ(session.buffered_bytes(), 0u);
    transactions += rec.txns.size();
    errors += rec.TotalErrors();
  }
  // The mix reaches both the parsed paths and the error paths.
  EXPECT_GT(transactions, 100u);
  EXPECT_GT(errors, 100);
}

}  // namespace
}  // namespace sightline::http1
