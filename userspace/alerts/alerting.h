// Alerting as the daemon runs it: the signals fed from the transaction chain
// (a TransactionSink in front of the next one, forwarding every call) and
// from the AI call fanout, the engine judged once a second from the main
// loop, and the notifier delivering on its own threads.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "alerts/engine.h"
#include "alerts/notifier.h"
#include "alerts/rules.h"
#include "alerts/signals.h"
#include "conn/forwarding_sink.h"
#include "conn/tracker.h"
#include "genai/accountant.h"
#include "genai/pricing.h"
#include "process/process_table.h"
#include "resources/host_collector.h"
#include "sightline/bpf/sockets.h"

namespace sightline::alerts {

// Forwards every call to `next`; answered server-side exchanges also become
// HTTP signals of their service.
class SignalSink : public conn::ForwardingSink {
 public:
  // The process on a connection: its service's key and labels.
  using ServiceOf = std::function<const process::ProcessInfo&(const conn::ConnectionInfo&)>;
  SignalSink(Signals& signals, conn::TransactionSink& next, ServiceOf service_of,
             std::function<uint64_t()> now_ns);

  void OnHttp(const conn::ConnectionInfo& conn, const http1::Transaction& t) override;

 private:
  Signals& signals_;
  ServiceOf service_of_;
  std::function<uint64_t()> now_ns_;
};

// Finished AI calls become AI signals of the calling service, priced like
// gen_ai_client_cost_usd_total (unpriced calls add no cost).
class CallSignalSink : public genai::CallSink {
 public:
  CallSignalSink(Signals& signals, SignalSink::ServiceOf service_of,
                 std::function<uint64_t()> now_ns,
                 std::shared_ptr<const genai::PricingTable> pricing);
  void OnCall(const conn::ConnectionInfo& conn, const genai::Call& call) override;
  void SetPricing(std::shared_ptr<const genai::PricingTable> pricing) {
    pricing_ = std::move(pricing);
  }

 private:
  Signals& signals_;
  SignalSink::ServiceOf service_of_;
  std::function<uint64_t()> now_ns_;
  std::shared_ptr<const genai::PricingTable> pricing_;
};

// Events the socket probe lost, all reasons together.
uint64_t LostEvents(const std::array<uint64_t, SL_CNT_MAX>& counters);

// The host's readings for the node-level signals.
NodeSample ReadNode(const resources::HostCollector& host, uint64_t events_lost);

class Alerting {
 public:
  Alerting(prometheus::Registry& registry, RuleSet rules,
           std::vector<std::unique_ptr<Channel>> channels, NotifierOptions notifier,
           std::string host);
  ~Alerting();

  Signals& signals() { return signals_; }
  // Judges the rules and queues what is to be sent; once a second.
  void Tick(const NodeSample& node, uint64_t now_ns, int64_t wall_ms);
  // Delivers what is queued for up to `drain_seconds`, then stops.
  void Stop(double drain_seconds) { notifier_.Stop(drain_seconds); }

  size_t channels() const { return notifier_.channels(); }

 private:
  Signals signals_;
  Notifier notifier_;
  Engine engine_;
  prometheus::Counter& services_dropped_;
  uint64_t services_dropped_seen_ = 0;
};

}  // namespace sightline::alerts
