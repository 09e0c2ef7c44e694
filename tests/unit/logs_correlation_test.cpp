// Correlation ids from request heads: each header kind, the order of
// precedence (default and configured), invalid values skipped, and generated
// ids that are well-formed, distinct version 4 UUIDs.
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "logs/correlation.h"

namespace {

namespace logs = sightline::logs;
namespace http1 = sightline::http1;

constexpr const char* kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

http1::RequestHead Head(std::vector<std::pair<std::string, std::string>> headers) {
  http1::RequestHead h;
  h.method = "GET";
  h.target = "/";
  for (auto& [n, v] : headers) h.headers.push_back({n, v});
  return h;
}

TEST(LogsCorrelation, TraceIdOfTraceparent) {
  EXPECT_EQ(logs::TraceIdOf(kTraceparent), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_FALSE(logs::TraceIdOf("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(logs::TraceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  EXPECT_FALSE(logs::TraceIdOf("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(logs::TraceIdOf("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(logs::TraceIdOf("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"));
  EXPECT_EQ(logs::TraceIdOf("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_FALSE(logs::TraceIdOf("garbage"));
}

TEST(LogsCorrelation, EachHeaderKindInOrderOfPrecedence) {
  const auto order = logs::DefaultCorrelationHeaders();
  auto all = Head(
      {{"X-Correlation-ID", "corr-3"}, {"X-Request-ID", "req-2"}, {"traceparent", kTraceparent}});
  auto c = logs::CorrelationFromHead(all, order);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(c->source, "traceparent");

  c = logs::CorrelationFromHead(Head({{"x-correlation-id", "corr-3"}, {"x-request-id", "req-2"}}),
                                order);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, "req-2");
  EXPECT_EQ(c->source, "x-request-id");

  c = logs::CorrelationFromHead(Head({{"X-CORRELATION-ID", "corr-3"}}), order);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, "corr-3");
  EXPECT_EQ(c->source, "x-correlation-id");

  // An invalid traceparent falls through to the next header.
  c = logs::CorrelationFromHead(Head({{"traceparent", "bogus"}, {"x-request-id", "req-2"}}), order);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, "req-2");

  EXPECT_FALSE(logs::CorrelationFromHead(Head({{"user-agent", "curl"}}), order));
  EXPECT_FALSE(logs::CorrelationFromHead(Head({{"x-request-id", "has space"}}), order));
  EXPECT_FALSE(logs::CorrelationFromHead(Head({{"x-request-id", std::string(129, 'a')}}), order));
}

TEST(LogsCorrelation, ConfiguredOrder) {
  auto head = Head({{"x-request-id", "req-2"},
                    {"x-amzn-trace-id", "Root=1-5759e988"},
                    {"traceparent", kTraceparent}});
  auto c = logs::CorrelationFromHead(head, {"x-amzn-trace-id", "traceparent"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, "Root=1-5759e988");
  EXPECT_EQ(c->source, "x-amzn-trace-id");
  c = logs::CorrelationFromHead(head, {"x-request-id", "traceparent"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, "req-2");
}

TEST(LogsCorrelation, GeneratedUuidV4) {
  logs::UuidGenerator gen(42);
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = gen.Next();
    ASSERT_TRUE(std::regex_match(id, v4)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  logs::UuidGenerator other(43);
  EXPECT_NE(other.Next(), logs::UuidGenerator(42).Next());
}

}  // namespace
