// The accountant on the connection tracker, fed as the kernel would feed it:
// AI calls recognised, bodies decoded (chunked, gzip, SSE) whatever the split,
// one Call per exchange with its usage, model and time to first chunk.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "conn/tracker.h"
#include "genai/accountant.h"

namespace {

using sightline::conn::ConnectionInfo;
using sightline::conn::ConnectionTracker;
using sightline::decode::ConnOpen;
using sightline::decode::Data;
using sightline::decode::Direction;
using sightline::decode::Role;
namespace genai = sightline::genai;
namespace http1 = sightline::http1;

struct HttpSink : sightline::conn::TransactionSink {
  std::vector<http1::Transaction> txns;
  void OnHttp(const ConnectionInfo&, const http1::Transaction& t) override { txns.push_back(t); }
  void OnHttpError(const ConnectionInfo&, http1::ErrorKind) override {}
};

struct Calls : genai::CallSink {
  std::vector<genai::Call> calls;
  void OnCall(const ConnectionInfo&, const genai::Call& c) override { calls.push_back(c); }
};

std::string Gzip(std::string_view in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = in.size();
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = out.size();
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// One chunk of a chunked body.
std::string Chunk(std::string_view piece) {
  char size[32];
  snprintf(size, sizeof(size), "%zx\r\n", piece.size());
  return size + std::string(piece) + "\r\n";
}

std::string Chunked(const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += Chunk(p);
  return out + "0\r\n\r\n";
}

struct Harness {
  HttpSink http;
  Calls calls;
  genai::Accountant accountant{genai::AccountantOptions{}, http, calls};
  ConnectionTracker tracker{{}, accountant};
  uint64_t seq[2] = {};

  Harness() {
    ConnOpen o;
    o.timestamp_ns = 1;
    o.pid = 10;
    o.fd = 5;
    o.conn_id = 1;
    o.role = Role::kClient;
    o.remote = {"10.0.0.1", 443};
    tracker.OnOpen(o);
  }
  void Send(Direction dir, std::string_view bytes, uint64_t ts) {
    Data d;
    d.timestamp_ns = ts;
    d.pid = 10;
    d.fd = 5;
    d.conn_id = 1;
    d.direction = dir;
    d.payload = bytes;
    d.orig_len = bytes.size();
    d.seq = seq[int(dir)];
    seq[int(dir)] += bytes.size();
    tracker.OnData(d);
  }
};

std::string Request(std::string_view host, std::string_view path, std::string_view body,
                    std::string_view extra = "") {
  return "POST " + std::string(path) + " HTTP/1.1\r\nHost: " + std::string(host) +
         "\r\nContent-Type: application/json\r\n" + std::string(extra) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

constexpr std::string_view kChatBody =
    R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
constexpr std::string_view kChatResponse =
    R"({"id":"c1","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,)"
    R"("message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":)"
    R"({"prompt_tokens":1200,"completion_tokens":80,"total_tokens":1280,)"
    R"("prompt_tokens_details":{"cached_tokens":1024}}})";

TEST(GenAiAccountant, GzipJsonResponseSplitAnywhere) {
  const std::string body = Gzip(kChatResponse);
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
      "x-ratelimit-remaining-requests: 4999\r\nTransfer-Encoding: chunked\r\n\r\n" +
      Chunked({body.substr(0, body.size() / 2), body.substr(body.size() / 2)});
  for (size_t cut = 0; cut <= response.size(); cut += 7) {
    Harness h;
    h.Send(Direction::kEgress, Request("api.openai.com", "/v1/chat/completions", kChatBody), 100);
    h.Send(Direction::kIngress, std::string_view(response).substr(0, cut), 200);
    h.Send(Direction::kIngress, std::string_view(response).substr(cut), 300);
    ASSERT_EQ(h.calls.calls.size(), 1u) << cut;
    const genai::Call& c = h.calls.calls[0];
    EXPECT_EQ(c.detection.provider, "openai");
    EXPECT_EQ(c.detection.operation, "chat");
    EXPECT_EQ(c.detection.request_model, "gpt-4o");
    EXPECT_EQ(c.outcome.response_model, "gpt-4o-2024-08-06");
    ASSERT_TRUE(c.outcome.usage.has_value()) << cut;
    EXPECT_EQ(c.outcome.usage->input, 1200u);
    EXPECT_EQ(c.outcome.usage->cache_read, 1024u);
    EXPECT_EQ(c.outcome.usage->output, 80u);
    EXPECT_EQ(c.outcome.error_type, "");
    EXPECT_EQ(c.request_start_ns, 100u);
    EXPECT_EQ(c.response_end_ns, 300u);
    ASSERT_EQ(c.rate_limits.size(), 1u);
    EXPECT_EQ(c.rate_limits[0].second, 4999);
    EXPECT_EQ(h.http.txns.size(), 1u);  // the HTTP metrics still see it
    EXPECT_EQ(h.accountant.in_flight(), 0u);
  }
}

TEST(GenAiAccountant, AnthropicStreamTimeToFirstChunk) {
  const std::vector<std::string> events = {
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\","
      "\"model\":\"claude-sonnet-4-5-20250929\",\"usage\":{\"input_tokens\":500,"
      "\"cache_creation_input_tokens\":500,\"cache_read_input_tokens\":3000,"
      "\"output_tokens\":1}}}\n\n",
      "event: ping\ndata: {\"type\":\"ping\"}\n\n",
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
      "\"end_turn\"},\"usage\":{\"output_tokens\":250}}\n\n",
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"};
  Harness h;
  h.Send(Direction::kEgress,
         Request("api.anthropic.com", "/v1/messages",
                 R"({"model":"claude-sonnet-4-5","max_tokens":10,"stream":true})",
                 "anthropic-version: 2023-06-01\r\n"),
         1000);
  h.Send(Direction::kIngress,
         "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         2000);
  uint64_t ts = 3000;
  for (const auto& e : events) h.Send(Direction::kIngress, Chunk(e), ts += 1000);
  h.Send(Direction::kIngress, "0\r\n\r\n", ts += 1000);
  ASSERT_EQ(h.calls.calls.size(), 1u);
  const genai::Call& c = h.calls.calls[0];
  EXPECT_EQ(c.detection.provider, "anthropic");
  EXPECT_TRUE(c.detection.stream);
  ASSERT_TRUE(c.outcome.usage.has_value());
  EXPECT_EQ(c.outcome.usage->input, 4000u);
  EXPECT_EQ(c.outcome.usage->cache_read, 3000u);
  EXPECT_EQ(c.outcome.usage->cache_creation, 500u);
  EXPECT_EQ(c.outcome.usage->output, 250u);
  ASSERT_TRUE(c.outcome.first_chunk_ns.has_value());
  EXPECT_EQ(*c.outcome.first_chunk_ns, 6000u);  // the text delta, not message_start or ping
}

TEST(GenAiAccountant, NonAiExchangesAreNotFollowed) {
  Harness h;
  h.Send(Direction::kEgress, "GET /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n\r\n",
         10);
  h.Send(Direction::kEgress, Request("example.com", "/v1/chat/completions", kChatBody), 20);
  h.Send(Direction::kIngress, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 30);
  h.Send(Direction::kIngress, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 40);
  EXPECT_EQ(h.calls.calls.size(), 0u);
  EXPECT_EQ(h.http.txns.size(), 2u);
  EXPECT_EQ(h.accountant.stats().followed, 0u);
}

TEST(GenAiAccountant, CallWithoutResponseIsReported) {
  Harness h;
  h.Send(Direction::kEgress, Request("api.openai.com", "/v1/chat/completions", kChatBody), 10);
  h.tracker.CloseAll(50);
  ASSERT_EQ(h.calls.calls.size(), 1u);
  EXPECT_EQ(h.calls.calls[0].outcome.error_type, "no_response");
  EXPECT_FALSE(h.calls.calls[0].outcome.usage.has_value());
  EXPECT_EQ(h.accountant.in_flight(), 0u);
}

TEST(GenAiAccountant, ErrorStatusCarriesTheProviderType) {
  Harness h;
  h.Send(Direction::kEgress, Request("api.openai.com", "/v1/chat/completions", kChatBody), 10);
  const std::string body =
      R"({"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}})";
  h.Send(Direction::kIngress,
         "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body,
         20);
  ASSERT_EQ(h.calls.calls.size(), 1u);
  EXPECT_EQ(h.calls.calls[0].status, 429);
  EXPECT_EQ(h.calls.calls[0].outcome.error_type, "rate_limit_exceeded");
}

TEST(GenAiAccountant, UndecodableBodyIsCountedNotCrashed) {
  Harness h;
  h.Send(Direction::kEgress, Request("api.openai.com", "/v1/chat/completions", kChatBody), 10);
  h.Send(Direction::kIngress,
         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
         "Content-Length: 12\r\n\r\nnot gzip!!!!",
         20);
  ASSERT_EQ(h.calls.calls.size(), 1u);
  EXPECT_FALSE(h.calls.calls[0].outcome.usage.has_value());
  EXPECT_EQ(h.accountant.stats().decode_errors, 1u);
}

}  // namespace
