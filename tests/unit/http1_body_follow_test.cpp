// Bodies handed to a sink that asks for them: de-chunked, in order, with
// the syscall times, whatever the split; only for the exchanges it follows.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocols/http1/session.h"

namespace {

using sightline::http1::RequestHead;
using sightline::http1::ResponseHead;
using sightline::http1::Session;
using sightline::http1::Side;
using sightline::http1::Stream;
using sightline::http1::Transaction;

struct FollowingSink : sightline::http1::Sink {
  std::string follow_prefix = "/v1/";
  std::vector<Transaction> txns;
  std::string request_body, response_body;
  std::vector<uint64_t> response_ts;
  int response_heads = 0;
  uint64_t gap_bytes = 0;
  std::vector<uint64_t> followed;

  void OnTransaction(const Transaction& t) override { txns.push_back(t); }
  void OnError(sightline::http1::ErrorKind) override {}
  bool FollowBody(uint64_t id, Side side, const RequestHead& head) override {
    if (side != Side::kClient || !head.target.starts_with(follow_prefix)) return false;
    followed.push_back(id);
    return true;
  }
  void OnResponseHead(uint64_t, const ResponseHead& head, uint64_t) override {
    response_heads++;
    EXPECT_NE(head.Find("content-type"), nullptr);
  }
  void OnBody(uint64_t, bool request, std::string_view bytes, uint64_t ts) override {
    (request ? request_body : response_body).append(bytes);
    if (!request) response_ts.push_back(ts);
  }
  void OnBodyGap(uint64_t, bool, uint64_t n) override { gap_bytes += n; }
};

constexpr std::string_view kRequest =
    "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: 17\r\n\r\n"
    "{\"model\":\"gpt-x\"}";
constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    "6\r\ndata: \r\n9;ext=1\r\n{\"a\":1}\n\n\r\n0\r\nTrailer: x\r\n\r\n";
constexpr std::string_view kDecoded = "data: {\"a\":1}\n\n";

TEST(Http1BodyFollow, ChunkedBodySplitAnywhereComesOutDecoded) {
  for (size_t cut = 0; cut <= kResponse.size(); cut++) {
    FollowingSink sink;
    Session s(Side::kClient);
    s.OnData(Stream::kEgress, kRequest, 10, sink);
    s.OnData(Stream::kIngress, kResponse.substr(0, cut), 20, sink);
    s.OnData(Stream::kIngress, kResponse.substr(cut), 30, sink);
    ASSERT_EQ(sink.txns.size(), 1u) << cut;
    EXPECT_EQ(sink.request_body, "{\"model\":\"gpt-x\"}");
    EXPECT_EQ(sink.response_body, kDecoded) << cut;
    EXPECT_EQ(sink.response_heads, 1);
    EXPECT_EQ(sink.txns[0].id, sink.followed.at(0));
    EXPECT_EQ(sink.txns[0].response_body_bytes, kDecoded.size());
  }
}

TEST(Http1BodyFollow, BodyTimestampsAreThoseOfTheCarryingData) {
  FollowingSink sink;
  Session s(Side::kClient);
  s.OnData(Stream::kEgress, kRequest, 10, sink);
  const size_t body_at = kResponse.find("6\r\n");
  s.OnData(Stream::kIngress, kResponse.substr(0, body_at + 9), 20, sink);  // "data: " chunk
  s.OnData(Stream::kIngress, kResponse.substr(body_at + 9), 35, sink);
  EXPECT_EQ(sink.response_ts, (std::vector<uint64_t>{20, 35}));
}

TEST(Http1BodyFollow, UnfollowedExchangesGiveNoBodies) {
  FollowingSink sink;
  sink.follow_prefix = "/other/";
  Session s(Side::kClient);
  s.OnData(Stream::kEgress, kRequest, 10, sink);
  s.OnData(Stream::kIngress, kResponse, 20, sink);
  EXPECT_TRUE(sink.request_body.empty());
  EXPECT_TRUE(sink.response_body.empty());
  EXPECT_EQ(sink.response_heads, 0);
  ASSERT_EQ(sink.txns.size(), 1u);
}

TEST(Http1BodyFollow, ServerSideIsNotFollowedHere) {
  FollowingSink sink;
  Session s(Side::kServer);
  s.OnData(Stream::kIngress, kRequest, 10, sink);
  s.OnData(Stream::kEgress, kResponse, 20, sink);
  EXPECT_TRUE(sink.followed.empty());
  EXPECT_TRUE(sink.response_body.empty());
}

TEST(Http1BodyFollow, UncapturedBodyBytesAreReportedAsAGap) {
  FollowingSink sink;
  Session s(Side::kClient);
  s.OnData(Stream::kEgress, kRequest, 10, sink);
  s.OnData(Stream::kIngress, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 10\r\n\r\n{\"a\"", 20, sink);
  s.OnGap(Stream::kIngress, 3, 25, sink);
  s.OnData(Stream::kIngress, "12}", 30, sink);
  ASSERT_EQ(sink.txns.size(), 1u);
  EXPECT_EQ(sink.gap_bytes, 3u);
  EXPECT_EQ(sink.response_body, "{\"a\"12}");
  EXPECT_TRUE(sink.txns[0].answered);
}

}  // namespace
