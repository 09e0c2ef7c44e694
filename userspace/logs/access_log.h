// JSON access logs: one line per observed HTTP exchange (server or client
// side) and one per AI API call, each with a correlation id and with every
// secret masked.
//
// AccessLog is a TransactionSink in front of the next one in the chain and
// forwards every call unchanged (it never asks for bodies itself: FollowBody
// returns the next sink's decision). When a request head is parsed it keeps
// the exchange's correlation id and the headers chosen for logging, already
// masked (bounded by max_in_flight; stale entries expire); the line is
// written when the exchange ends. It is also a genai::CallSink: the
// accountant behind it reports an AI call while the exchange's OnHttp is
// being forwarded, so the AI line carries the exchange's correlation id.
//
// Which lines are written: level at least min_level, then sampling (mode
// sample: kept when a hash of the correlation id falls under the rate, so
// both sides of a call and its AI line are kept or dropped together), then
// the rate limit, then room in the writer's queue. Each refusal is counted in
// sightline_log_lines_dropped_total by reason.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "conn/forwarding_sink.h"
#include "conn/tracker.h"
#include "genai/accountant.h"
#include "genai/pricing.h"
#include "logs/correlation.h"
#include "logs/mask.h"
#include "logs/writer.h"
#include "metrics/route.h"
#include "process/process_table.h"

namespace sightline::logs {

enum class Mode { kOff, kSample, kAll };
enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "DEBUG", "INFO", "WARNING", "ERROR".
std::string_view LevelName(Level level);
// Case-insensitive debug, info, warning (or warn), error.
std::optional<Level> ParseLevel(std::string_view text);
std::optional<Mode> ParseMode(std::string_view text);
// "2025-12-05T12:00:00.000Z" of a CLOCK_REALTIME time.
std::string FormatTimestamp(uint64_t wall_ns);

struct AccessLogOptions {
  Mode mode = Mode::kAll;
  double sample_rate = 1.0;  // mode kSample: share of correlation ids kept
  Level min_level = Level::kInfo;
  std::string environment;
  std::vector<std::string> correlation_headers = DefaultCorrelationHeaders();
  std::vector<std::string> log_headers = {"user-agent"};  // lower-case names
  double rate_limit = 1000;                               // lines per second; 0: unlimited
  size_t max_in_flight = 65536;                           // exchanges between request head and end
  uint64_t max_age_ns = 600'000'000'000ull;  // in-flight entries older than this expire
};

struct LogClocks {
  NowNs mono;  // CLOCK_MONOTONIC, the kernel events' time base
  NowNs wall;  // CLOCK_REALTIME, for the timestamp field
};

// The daemon's counters for the access log.
class LogMetrics {
 public:
  explicit LogMetrics(prometheus::Registry& registry);
  void Written(bool ai) { (ai ? ai_lines_ : http_lines_).Increment(); }
  // reason: rate_limit, sampled_out, below_level, queue_full, write_error.
  void Dropped(std::string_view reason, uint64_t n = 1);
  void Untracked() { untracked_.Increment(); }

 private:
  prometheus::Family<prometheus::Counter>& lines_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Counter& http_lines_;
  prometheus::Counter& ai_lines_;
  prometheus::Counter& untracked_;
  // The known reasons' counters, found without building a label set: past the
  // rate limit this runs for every exchange.
  std::vector<std::pair<std::string_view, prometheus::Counter*>> reasons_;
};

class AccessLog : public conn::ForwardingSink, public genai::CallSink {
 public:
  // The process on a connection: its service name and pod.
  using ServiceOf = std::function<const process::ProcessInfo&(const conn::ConnectionInfo&)>;
  using ContainerOf = std::function<std::string(uint32_t pid)>;
  // Hands a finished line (no newline) to the writer; false when it has no room.
  using Emit = std::function<bool(std::string line)>;

  AccessLog(AccessLogOptions options, Masker masker, conn::TransactionSink& next,
            const metrics::RouteNormalizer& routes, ServiceOf service_of, ContainerOf container_of,
            std::shared_ptr<const genai::PricingTable> pricing, LogClocks clocks, Emit emit,
            LogMetrics& metrics, uint64_t seed);
  ~AccessLog() override;

  void OnHttp(const conn::ConnectionInfo& conn, const http1::Transaction& t) override;
  bool FollowBody(const conn::ConnectionInfo& conn, uint64_t exchange, http1::Side side,
                  const http1::RequestHead& head) override;

  void OnCall(const conn::ConnectionInfo& conn, const genai::Call& call) override;

  // Swaps the price table (SIGHUP); AI lines from now on use the new one.
  void SetPricing(std::shared_ptr<const genai::PricingTable> pricing);
  // Expires in-flight entries whose exchange never ended.
  void Sweep(uint64_t now_ns);

  size_t in_flight() const { return pending_.size(); }

 private:
  struct Pending {
    CorrelationId correlation;
    std::vector<std::pair<std::string, std::string>> headers;  // masked
    uint64_t seen_ns = 0;
    bool next_follows = false;    // the next sink reads this exchange (an AI call, maybe)
    nlohmann::ordered_json base;  // common fields, kept for the AI line
  };
  using Key = std::pair<uint64_t, uint64_t>;  // (conn_id, exchange)

  // Whether a line at this level for this correlation id passes the level
  // and sampling filters; counts the refusal when it does not.
  bool Wanted(Level level, const std::string& correlation_id);
  // Takes a token from the rate limit; counts the drop when there is none.
  bool Admit();
  // Hands an admitted line to the writer.
  void Write(const nlohmann::ordered_json& line, bool ai);
  nlohmann::ordered_json Base(const conn::ConnectionInfo& conn, const http1::Transaction& t,
                              const Pending& p, Level level, std::string_view message);

  AccessLogOptions options_;
  Masker masker_;
  const metrics::RouteNormalizer& routes_;
  ServiceOf service_of_;
  ContainerOf container_of_;
  std::shared_ptr<const genai::PricingTable> pricing_;
  LogClocks clocks_;
  Emit emit_;
  LogMetrics& metrics_;
  TokenBucket bucket_;
  UuidGenerator uuids_;
  std::map<Key, Pending> pending_;
};

}  // namespace sightline::logs
