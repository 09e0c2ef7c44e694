#include "metrics/db_metrics.h"

#include <algorithm>

#include "metrics/service_labels.h"
#include "util/time.h"

namespace sightline::metrics {
namespace {

// OpenTelemetry's advised boundaries for db.client.operation.duration, in seconds.
const prometheus::Histogram::BucketBoundaries kDurationBuckets = {
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};

// Queue names come from traffic: bounded like any label value.
constexpr size_t kMaxQueueName = 128;

std::string QueueName(std::string_view key) { return std::string(key.substr(0, kMaxQueueName)); }

}  // namespace

std::string OperationLabel(std::string_view name) {
  if (name.empty() || name.size() > 32) return "_OTHER";
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ' ';
    if (!ok) return "_OTHER";
  }
  return std::string(name);
}

DbMetrics::DbMetrics(prometheus::Registry& registry,
                     prometheus::Family<prometheus::Counter>& dropped,
                     prometheus::Family<prometheus::Counter>& parse_errors,
                     process::ProcessTable& processes, size_t budget,
                     std::function<uint64_t()> now_ns)
    : processes_(processes),
      now_ns_(std::move(now_ns)),
      parse_errors_(parse_errors),
      duration_(prometheus::BuildHistogram()
                    .Name("db_client_operation_duration_seconds")
                    .Help("Duration of database and cache operations, first request byte "
                          "written to last reply byte read")
                    .Register(registry),
                budget, dropped, kDurationBuckets),
      unanswered_(prometheus::BuildCounter()
                      .Name("sightline_db_operations_unanswered_total")
                      .Help("Database operations that got no complete reply: the connection "
                            "closed or lost sync first")
                      .Register(registry),
                  budget, dropped),
      connections_(prometheus::BuildGauge()
                       .Name("db_client_connections_open")
                       .Help("Open client connections to a database or cache server (the "
                             "service's pool size)")
                       .Register(registry),
                   budget, dropped),
      cache_(prometheus::BuildCounter()
                 .Name("db_client_cache_lookups_total")
                 .Help("Keys read from a cache, by whether a value came back (hit) or nil (miss)")
                 .Register(registry),
             budget, dropped),
      sent_(prometheus::BuildCounter()
                .Name("messaging_client_sent_messages_total")
                .Help("Messages pushed onto a queue (a Redis list)")
                .Register(registry),
            budget, dropped),
      consumed_(prometheus::BuildCounter()
                    .Name("messaging_client_consumed_messages_total")
                    .Help("Messages popped from a queue (a Redis list)")
                    .Register(registry),
                budget, dropped),
      depth_(prometheus::BuildGauge()
                 .Name("messaging_queue_depth")
                 .Help("Length of a queue (a Redis list) as last revealed by a reply, less the "
                       "messages popped since")
                 .Register(registry),
             budget, dropped),
      cache_limit_(4 * budget + 64) {}

void DbMetrics::OnDbOperation(const conn::ConnectionInfo& conn, const db::Operation& op) {
  const process::ProcessInfo& proc = processes_.Lookup(conn.pid, conn.comm, now_ns_());
  std::string system(db::SystemName(op.system));
  if (!op.answered) {
    unanswered_.Get(ServiceLabels(proc, {{"db_system_name", system}})).Increment();
    return;
  }
  std::string name = OperationLabel(op.name);
  std::string key = proc.key + '\x1d' + system + '\x1d' + name + '\x1d' + op.error_type;
  auto it = series_cache_.find(key);
  if (it == series_cache_.end()) {
    if (series_cache_.size() >= cache_limit_) series_cache_.clear();
    Series s;
    s.duration = &duration_.Get(ServiceLabels(proc, {{"db_system_name", system},
                                                    {"db_operation_name", name},
                                                    {"error_type", op.error_type}}));
    it = series_cache_.emplace(std::move(key), s).first;
  }
  Series& s = it->second;
  s.duration->Observe(util::SecondsBetween(op.request_start_ns, op.response_end_ns));
  if (op.cache_hits) {
    if (!s.hits) {
      s.hits = &cache_.Get(ServiceLabels(proc, {{"db_system_name", system}, {"result", "hit"}}));
    }
    s.hits->Increment(op.cache_hits);
  }
  if (op.cache_misses) {
    if (!s.misses) {
      s.misses =
          &cache_.Get(ServiceLabels(proc, {{"db_system_name", system}, {"result", "miss"}}));
    }
    s.misses->Increment(op.cache_misses);
  }
  if (op.system == db::System::kRedis && !op.queue_key.empty() && op.error_type.empty()) {
    Queue(conn, proc, op);
  }
}

prometheus::Gauge& DbMetrics::Depth(const conn::ConnectionInfo& conn, const std::string& key) {
  return depth_.Get({{"messaging_system", "redis"},
                     {"messaging_destination_name", QueueName(key)},
                     {"server_address", conn.remote.address.empty() ? "unknown" : conn.remote.address},
                     {"server_port", std::to_string(conn.remote.port)}});
}

void DbMetrics::Queue(const conn::ConnectionInfo& conn, const process::ProcessInfo& proc,
                      const db::Operation& op) {
  auto labels = [&](const std::string& key) {
    return ServiceLabels(proc, {{"messaging_system", "redis"},
                                {"messaging_destination_name", QueueName(key)}});
  };
  switch (op.queue_action) {
    case db::QueueAction::kEnqueue:
      if (op.queue_items) sent_.Get(labels(op.queue_key)).Increment(double(op.queue_items));
      break;
    case db::QueueAction::kDequeue:
      if (op.queue_items) {
        consumed_.Get(labels(op.queue_key)).Increment(double(op.queue_items));
      }
      if (!op.queue_destination.empty() && op.queue_items) {
        sent_.Get(labels(op.queue_destination)).Increment(double(op.queue_items));
      }
      break;
    case db::QueueAction::kNone:
      break;
  }
  // The depth: a length in the reply is the truth; a pop takes from it; a
  // pop that found nothing says the list is empty.
  prometheus::Gauge& depth = Depth(conn, op.queue_key);
  if (op.queue_length) {
    depth.Set(double(*op.queue_length));
  } else if (op.queue_action == db::QueueAction::kDequeue) {
    depth.Set(op.queue_items ? std::max(0.0, depth.Value() - double(op.queue_items)) : 0.0);
  }
  if (op.queue_action == db::QueueAction::kDequeue && !op.queue_destination.empty() &&
      op.queue_items) {
    prometheus::Gauge& to = Depth(conn, op.queue_destination);
    to.Set(to.Value() + double(op.queue_items));
  }
}

void DbMetrics::OnDbError(const conn::ConnectionInfo&, db::System system,
                          std::string_view reason) {
  parse_errors_.Add({{"protocol", std::string(db::SystemName(system))}, {"reason", std::string(reason)}})
      .Increment();
}

void DbMetrics::OnDbConnection(const conn::ConnectionInfo& conn, db::System system, bool open) {
  if (!open) {
    if (auto it = open_.find(conn.conn_id); it != open_.end()) {
      it->second->Decrement();
      open_.erase(it);
    }
    return;
  }
  const process::ProcessInfo& proc = processes_.Lookup(conn.pid, conn.comm, now_ns_());
  auto& g = connections_.Get(ServiceLabels(
      proc, {{"db_system_name", std::string(db::SystemName(system))},
             {"server_address", conn.remote.address.empty() ? "unknown" : conn.remote.address},
             {"server_port", std::to_string(conn.remote.port)}}));
  if (open_.emplace(conn.conn_id, &g).second) g.Increment();
}

}  // namespace sightline::metrics
