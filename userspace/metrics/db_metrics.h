// Turns database and cache operations (PostgreSQL, Redis) into the
// contract's db_client_operation_duration_seconds, open client connections,
// cache hits and misses, and Redis lists used as queues.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <string>
#include <unordered_map>

#include "conn/tracker.h"
#include "metrics/series_budget.h"
#include "process/process_table.h"

namespace sightline::metrics {

class DbMetrics : public conn::DbSink {
 public:
  // `dropped` is sightline_series_dropped_total and `parse_errors`
  // sightline_parse_errors_total, both shared with the HTTP metrics.
  DbMetrics(prometheus::Registry& registry, prometheus::Family<prometheus::Counter>& dropped,
            prometheus::Family<prometheus::Counter>& parse_errors,
            process::ProcessTable& processes, size_t series_budget,
            std::function<uint64_t()> now_ns);

  void OnDbOperation(const conn::ConnectionInfo& conn, const db::Operation& op) override;
  void OnDbError(const conn::ConnectionInfo& conn, db::System system,
                 std::string_view reason) override;
  void OnDbConnection(const conn::ConnectionInfo& conn, db::System system, bool open) override;

 private:
  void Queue(const conn::ConnectionInfo& conn, const process::ProcessInfo& proc,
             const db::Operation& op);
  // Where a queue's length is known, by (server, key).
  prometheus::Gauge& Depth(const conn::ConnectionInfo& conn, const std::string& key);

  process::ProcessTable& processes_;
  std::function<uint64_t()> now_ns_;
  prometheus::Family<prometheus::Counter>& parse_errors_;
  BudgetedHistogram duration_;
  BudgetedCounter unanswered_;
  BudgetedGauge connections_;
  BudgetedCounter cache_;
  BudgetedCounter sent_;
  BudgetedCounter consumed_;
  BudgetedGauge depth_;
  // The series one kind of operation (service, system, name, error) records
  // in, found by a flat key: building label maps per operation costs more
  // than the rest. Cache counters are looked up the first time they count.
  struct Series {
    prometheus::Histogram* duration = nullptr;
    prometheus::Counter* hits = nullptr;
    prometheus::Counter* misses = nullptr;
  };
  std::unordered_map<std::string, Series> series_cache_;
  // The gauge each open connection counts in, so its close takes back the
  // same one even if its service was renamed meanwhile.
  std::unordered_map<uint64_t, prometheus::Gauge*> open_;
  size_t cache_limit_;
};

// db_operation_name as exported: upper-case letters, digits, '_' and ' ', at
// most 32 bytes; anything else is "_OTHER", so a client cannot mint series
// with made-up commands.
std::string OperationLabel(std::string_view name);

}  // namespace sightline::metrics
