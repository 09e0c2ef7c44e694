// Follows AI API calls among the client HTTP exchanges of every connection:
// recognises them from the request head, reads the request body for the
// model and stream flag, decodes the response (content coding, then JSON or
// SSE) as it arrives, and reports one finished Call per exchange. Bodies are
// read incrementally within fixed bounds and never kept or exported.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "conn/tracker.h"
#include "genai/pricing.h"
#include "genai/provider.h"

namespace sightline::genai {

struct AccountantOptions {
  DetectOptions detect;
  size_t max_request_body = 256 * 1024;  // enough for the model and stream flags
  size_t max_response_body = 4 << 20;    // decoded JSON kept until the body ends
  size_t max_sse_event = 1 << 20;
  size_t max_exchanges = 4096;  // AI exchanges followed at once
};

// A finished AI call.
struct Call {
  Detection detection;
  Outcome outcome;
  uint64_t exchange = 0;  // the HTTP exchange's number on its connection (Transaction::id)
  int status = 0;
  bool answered = false;
  uint64_t request_start_ns = 0;
  uint64_t response_end_ns = 0;
  std::vector<std::pair<std::string, double>> rate_limits;  // remaining, by limit type
};

// What `call` cost in USD by `pricing` (response model, then request model);
// nullopt when the call reported no usage or its model has no price (an
// unpriced call is never a $0 call).
std::optional<double> CallCost(const PricingTable* pricing, const Call& call);

class CallSink {
 public:
  virtual ~CallSink() = default;
  virtual void OnCall(const conn::ConnectionInfo& conn, const Call& call) = 0;
};

struct AccountantStats {
  uint64_t followed = 0;         // exchanges recognised as AI calls
  uint64_t shed = 0;             // not followed: too many in flight
  uint64_t decode_errors = 0;    // bodies whose content coding could not be decoded
  uint64_t body_gaps = 0;        // bodies with uncaptured bytes (their usage may be lost)
  uint64_t truncated_bytes = 0;  // decoded bytes past the bounds, not read
};

class Accountant : public conn::TransactionSink {
 public:
  // Every transaction goes on to `http` as well; AI calls also to `calls`.
  Accountant(AccountantOptions options, conn::TransactionSink& http, CallSink& calls);
  ~Accountant() override;

  void OnHttp(const conn::ConnectionInfo& conn, const http1::Transaction& t) override;
  void OnHttpError(const conn::ConnectionInfo& conn, http1::ErrorKind kind) override;
  bool FollowBody(const conn::ConnectionInfo& conn, uint64_t exchange, http1::Side side,
                  const http1::RequestHead& head) override;
  void OnResponseHead(const conn::ConnectionInfo& conn, uint64_t exchange,
                      const http1::ResponseHead& head, uint64_t ts_ns) override;
  void OnBody(const conn::ConnectionInfo& conn, uint64_t exchange, bool request,
              std::string_view bytes, uint64_t ts_ns) override;
  void OnBodyGap(const conn::ConnectionInfo& conn, uint64_t exchange, bool request,
                 uint64_t n) override;

  const AccountantStats& stats() const { return stats_; }
  size_t in_flight() const { return exchanges_.size(); }

 private:
  struct Exchange;
  using Key = std::pair<uint64_t, uint64_t>;  // (conn_id, exchange)

  AccountantOptions options_;
  conn::TransactionSink& http_;
  CallSink& calls_;
  AccountantStats stats_;
  std::map<Key, std::unique_ptr<Exchange>> exchanges_;
};

}  // namespace sightline::genai
