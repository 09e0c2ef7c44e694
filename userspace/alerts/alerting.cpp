#include "alerts/alerting.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include "util/time.h"

namespace sightline::alerts {
namespace {

SignalsOptions SignalsFor(const RuleSet& rules) {
  SignalsOptions o;
  o.max_window_seconds = 1;
  for (const auto& r : rules.rules)
    o.max_window_seconds = std::max(o.max_window_seconds, r.window_seconds);
  return o;
}

}  // namespace

SignalSink::SignalSink(Signals& signals, conn::TransactionSink& next, ServiceOf service_of,
                       std::function<uint64_t()> now_ns)
    : conn::ForwardingSink(next),
      signals_(signals),
      service_of_(std::move(service_of)),
      now_ns_(std::move(now_ns)) {}

void SignalSink::OnHttp(const conn::ConnectionInfo& conn, const http1::Transaction& t) {
  if (t.answered && t.side == http1::Side::kServer) {
    const process::ProcessInfo& proc = service_of_(conn);
    signals_.ObserveHttp(proc.key, proc.labels, t.status,
                         util::SecondsBetween(t.request_start_ns, t.response_end_ns), now_ns_());
  }
  conn::ForwardingSink::OnHttp(conn, t);
}

CallSignalSink::CallSignalSink(Signals& signals, SignalSink::ServiceOf service_of,
                               std::function<uint64_t()> now_ns,
                               std::shared_ptr<const genai::PricingTable> pricing)
    : signals_(signals),
      service_of_(std::move(service_of)),
      now_ns_(std::move(now_ns)),
      pricing_(std::move(pricing)) {}

void CallSignalSink::OnCall(const conn::ConnectionInfo& conn, const genai::Call& call) {
  // Unpriced calls add no cost.
  const double cost = genai::CallCost(pricing_.get(), call).value_or(0);
  const bool error = !call.answered || !call.outcome.error_type.empty();
  const process::ProcessInfo& proc = service_of_(conn);
  signals_.ObserveAiCall(proc.key, proc.labels, call.status, error, cost, now_ns_());
}

uint64_t LostEvents(const std::array<uint64_t, SL_CNT_MAX>& c) {
  return c[SL_CNT_LOST_DATA_RINGBUF_FULL] + c[SL_CNT_LOST_CONTROL_RINGBUF_FULL] +
         c[SL_CNT_LOST_DATA_READ_FAILED] + c[SL_CNT_LOST_CONN_MAP_FULL] +
         c[SL_CNT_LOST_PROCESS_INFO] + c[SL_CNT_LOST_TLS_BIND];
}

NodeSample ReadNode(const resources::HostCollector& host, uint64_t events_lost) {
  const auto r = host.Read();
  NodeSample s;
  if (r.cpu) {
    s.cpu_busy_ticks = r.cpu->Busy();
    s.cpu_total_ticks = r.cpu->Total();
  }
  s.memory_utilization = r.memory_utilization;
  s.disk_utilization = r.max_filesystem_utilization;
  s.events_lost = events_lost;
  return s;
}

Alerting::Alerting(prometheus::Registry& registry, RuleSet rules,
                   std::vector<std::unique_ptr<Channel>> channels, NotifierOptions notifier,
                   std::string host)
    : signals_(SignalsFor(rules)),
      notifier_((curl_global_init(CURL_GLOBAL_DEFAULT), registry), std::move(channels), notifier),
      engine_(
          registry, std::move(rules),
          [this](const Alert& a) {
            if (a.kind == AlertKind::kResolved) {
              spdlog::info("alert resolved: {}", a.Summary());
            } else {
              spdlog::warn("alert {}: {}", AlertKindName(a.kind), a.Summary());
            }
            notifier_.Enqueue(a);
          },
          std::move(host)),
      services_dropped_(prometheus::BuildCounter()
                            .Name("sightline_alert_services_dropped_total")
                            .Help("Observations of services not followed by the alert signals: "
                                  "too many services at once")
                            .Register(registry)
                            .Add({})) {}

Alerting::~Alerting() { notifier_.Stop(0); }

void Alerting::Tick(const NodeSample& node, uint64_t now_ns, int64_t wall_ms) {
  signals_.ObserveNode(node, now_ns);
  signals_.Expire(now_ns);
  engine_.Evaluate(signals_, now_ns, wall_ms);
  const uint64_t dropped = signals_.services_dropped();
  if (dropped > services_dropped_seen_) {
    services_dropped_.Increment(double(dropped - services_dropped_seen_));
    services_dropped_seen_ = dropped;
  }
}

}  // namespace sightline::alerts
