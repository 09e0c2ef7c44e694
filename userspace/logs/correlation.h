// Correlation ids of observed requests: the id a request already carries in
// one of its headers (first match in a configurable order), or a fresh
// UUIDv4 when it carries none.
//
// traceparent (W3C Trace Context) gives its trace id: a request and the
// client calls its service makes while propagating the header share it.
// X-Request-ID and X-Correlation-ID give their value as sent, when it is a
// short run of printable characters.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/http1/parser.h"

namespace sightline::logs {

inline constexpr size_t kMaxCorrelationIdLength = 128;

// Default order of precedence.
std::vector<std::string> DefaultCorrelationHeaders();

struct CorrelationId {
  std::string id;
  std::string source;  // lower-case header name, or "generated"
};

// The trace id (32 lower-case hex digits) of a valid traceparent value, or nullopt.
std::optional<std::string> TraceIdOf(std::string_view traceparent);

// The id from the first header of `order` (lower-case names) that the head
// carries with a usable value; nullopt when none does.
std::optional<CorrelationId> CorrelationFromHead(const http1::MessageHead& head,
                                                 const std::vector<std::string>& order);

// Random version 4 UUIDs, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" with y in 8..b.
class UuidGenerator {
 public:
  explicit UuidGenerator(uint64_t seed);
  std::string Next();

 private:
  std::mt19937_64 rng_;
};

// FNV-1a, for sampling decisions that keep both sides of a call together.
uint64_t StableHash(std::string_view s);

}  // namespace sightline::logs
