// Shared by the HTTP/1.x session tests: a sink that records what a Session
// reports, and stream helpers.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "protocols/http1/session.h"

namespace sightline::http1::test_util {

inline constexpr std::array<ErrorKind, 6> kAllErrors = {
    ErrorKind::kInvalidRequest,    ErrorKind::kInvalidResponse,
    ErrorKind::kHeadTooLarge,      ErrorKind::kGap,
    ErrorKind::kUnmatchedResponse, ErrorKind::kTooManyPending};

class Recorder : public Sink {
 public:
  void OnTransaction(const Transaction& t) override { txns.push_back(t); }
  void OnError(ErrorKind kind) override { ++errors[static_cast<size_t>(kind)]; }

  int Errors(ErrorKind kind) const { return errors[static_cast<size_t>(kind)]; }
  int TotalErrors() const {
    int total = 0;
    for (const int n : errors) total += n;
    return total;
  }
  size_t Unanswered() const {
    size_t n = 0;
    for (const Transaction& t : txns) n += t.answered ? 0 : 1;
    return n;
  }

  std::vector<Transaction> txns;
  std::array<int, kAllErrors.size()> errors{};
};

inline Stream RequestStream(Side side) {
  return side == Side::kClient ? Stream::kEgress : Stream::kIngress;
}

inline Stream ResponseStream(Side side) {
  return side == Side::kClient ? Stream::kIngress : Stream::kEgress;
}

inline std::string ErrorSummary(const Recorder& r) {
  std::string out;
  for (const ErrorKind k : kAllErrors) {
    out +=
        std::string(ErrorKindName(k)) + "=" + std::to_string(r.Errors(k)) + " ";
  }
  return out;
}

inline const std::string kGet = "GET / HTTP/1.1\r\n\r\n";
inline const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

}  // namespace sightline::http1::test_util
