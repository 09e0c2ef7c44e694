// Turns HTTP/1 transactions into the contract's http_server_* and
// http_client_* histograms (DESIGN.md), with routes normalised and a series
// budget on every family.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "conn/tracker.h"
#include "metrics/route.h"
#include "metrics/series_budget.h"
#include "process/process_table.h"

namespace sightline::metrics {

class HttpMetrics : public conn::TransactionSink {
 public:
  // now_ns supplies CLOCK_MONOTONIC for the process table's cache.
  HttpMetrics(prometheus::Registry& registry, process::ProcessTable& processes,
              const RouteNormalizer& routes, size_t series_budget,
              std::function<uint64_t()> now_ns);

  void OnHttp(const conn::ConnectionInfo& conn, const http1::Transaction& t) override;
  void OnHttpError(const conn::ConnectionInfo& conn, http1::ErrorKind kind) override;

  // sightline_series_dropped_total, shared with the other budgeted families.
  prometheus::Family<prometheus::Counter>& dropped_family() { return dropped_; }
  // sightline_parse_errors_total, shared with the other protocols' sinks.
  prometheus::Family<prometheus::Counter>& parse_errors_family() { return parse_errors_; }

 private:
  // The three histograms of one label set, looked up once and then found
  // by a flat string key: building and hashing label maps per request cost
  // more than the rest of the pipeline together.
  struct Series {
    prometheus::Histogram* duration;
    prometheus::Histogram* request_size;
    prometheus::Histogram* response_size;
  };
  const Series& Insert(std::unordered_map<std::string, Series>& cache, const std::string& key,
                       const prometheus::Labels& labels, BudgetedHistogram& duration,
                       BudgetedHistogram& request_size, BudgetedHistogram& response_size);
  void RecordServer(const process::ProcessInfo& proc, const http1::Transaction& t);
  void RecordClient(const process::ProcessInfo& proc, const conn::ConnectionInfo& conn,
                    const http1::Transaction& t);

  process::ProcessTable& processes_;
  const RouteNormalizer& routes_;
  std::function<uint64_t()> now_ns_;

  prometheus::Family<prometheus::Counter>& dropped_;
  BudgetedHistogram server_duration_;
  BudgetedHistogram server_request_size_;
  BudgetedHistogram server_response_size_;
  BudgetedHistogram client_duration_;
  BudgetedHistogram client_request_size_;
  BudgetedHistogram client_response_size_;
  BudgetedCounter unanswered_;
  std::unordered_map<std::string, Series> server_cache_;
  std::unordered_map<std::string, Series> client_cache_;
  size_t cache_limit_;
  prometheus::Family<prometheus::Counter>& parse_errors_;
};

// "host" from a Host header value ("host", "host:port", "[v6]:port").
std::pair<std::string, std::optional<uint16_t>> SplitHostHeader(std::string_view host);

}  // namespace sightline::metrics
