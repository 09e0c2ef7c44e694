#include "logs/correlation.h"

namespace sightline::logs {
namespace {

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool AllHex(std::string_view s) {
  for (char c : s) {
    if (!IsHex(c)) return false;
  }
  return true;
}

bool AllZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

// Short and printable: anything else is no id a person could search for.
bool UsableId(std::string_view v) {
  if (v.empty() || v.size() > kMaxCorrelationIdLength) return false;
  for (char c : v) {
    if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> DefaultCorrelationHeaders() {
  return {"traceparent", "x-request-id", "x-correlation-id"};
}

std::optional<std::string> TraceIdOf(std::string_view v) {
  // version "-" trace-id "-" parent-id "-" flags; later versions may append fields.
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  std::string_view version = v.substr(0, 2), trace = v.substr(3, 32), parent = v.substr(36, 16),
                   flags = v.substr(53, 2);
  if (!AllHex(version) || version == "ff" || !AllHex(trace) || !AllHex(parent) || !AllHex(flags)) {
    return std::nullopt;
  }
  if (version == "00" && v.size() != 55) return std::nullopt;
  if (AllZero(trace) || AllZero(parent)) return std::nullopt;
  return std::string(trace);
}

std::optional<CorrelationId> CorrelationFromHead(const http1::MessageHead& head,
                                                 const std::vector<std::string>& order) {
  for (const std::string& name : order) {
    const http1::Header* h = head.Find(name);
    if (h == nullptr) continue;
    if (name == "traceparent") {
      if (auto trace = TraceIdOf(h->value)) return CorrelationId{std::move(*trace), name};
      continue;
    }
    if (UsableId(h->value)) return CorrelationId{h->value, name};
  }
  return std::nullopt;
}

UuidGenerator::UuidGenerator(uint64_t seed) : rng_(seed) {}

std::string UuidGenerator::Next() {
  const uint64_t hi = (rng_() & ~uint64_t(0xf000)) | 0x4000;                  // version 4
  const uint64_t lo = (rng_() & ~(uint64_t(3) << 62)) | (uint64_t(2) << 62);  // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  auto put = [&](uint64_t v, int from_bit, int nibbles) {
    for (int k = 0; k < nibbles; ++k) out += kHex[(v >> (from_bit - 4 * (k + 1))) & 0xf];
  };
  put(hi, 64, 8);
  out += '-';
  put(hi, 32, 4);
  out += '-';
  put(hi, 16, 4);
  out += '-';
  put(lo, 64, 4);
  out += '-';
  put(lo, 48, 12);
  return out;
}

uint64_t StableHash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace sightline::logs
