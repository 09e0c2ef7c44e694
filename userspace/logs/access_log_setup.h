// The access log as the daemon runs it: options read from the configuration,
// lines written by a writer thread to stdout or a rotating file, container
// ids from /proc, service names from the process table.
#pragma once

#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "config/options.h"
#include "conn/tracker.h"
#include "genai/pricing.h"
#include "logs/access_log.h"
#include "logs/container.h"
#include "logs/writer.h"
#include "metrics/route.h"
#include "process/process_table.h"

namespace sightline::logs {

class AccessLogStack {
 public:
  // nullptr with *error set when the output cannot be opened or a mask
  // pattern file is unusable; nullptr without an error when --access-log off.
  static std::unique_ptr<AccessLogStack> Create(
      const config::Options& o, prometheus::Registry& registry, conn::TransactionSink& next,
      const metrics::RouteNormalizer& routes, process::ProcessTable& processes,
      std::shared_ptr<const genai::PricingTable> pricing, std::string* error);
  ~AccessLogStack();  // writes out what is queued

  // The sink to put in front of `next` in the chain, and to add to the AI call fanout.
  AccessLog& sink() { return *sink_; }
  void Sweep(uint64_t now_ns) { sink_->Sweep(now_ns); }
  // Waits (a few seconds at most) until every line so far is written (shutdown).
  void Drain() { writer_->Drain(std::chrono::milliseconds(5000)); }

 private:
  AccessLogStack() = default;

  std::unique_ptr<LogMetrics> metrics_;
  std::unique_ptr<ContainerIds> containers_;
  std::unique_ptr<AsyncWriter> writer_;
  std::unique_ptr<AccessLog> sink_;
};

}  // namespace sightline::logs
