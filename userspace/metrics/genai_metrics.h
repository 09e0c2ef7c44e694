// Turns finished AI calls into the contract's gen_ai_client_* metrics
// (DESIGN.md): duration, time to first chunk, tokens by type, cost from the
// pricing table, and the calls whose tokens or price are unknown, which are
// counted apart and never as zero.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <set>
#include <string>

#include "genai/accountant.h"
#include "genai/pricing.h"
#include "metrics/series_budget.h"
#include "process/process_table.h"

namespace sightline::metrics {

class GenAiMetrics : public genai::CallSink {
 public:
  GenAiMetrics(prometheus::Registry& registry, prometheus::Family<prometheus::Counter>& dropped,
               process::ProcessTable& processes, size_t series_budget,
               std::shared_ptr<const genai::PricingTable> pricing,
               std::function<uint64_t()> now_ns);

  void OnCall(const conn::ConnectionInfo& conn, const genai::Call& call) override;

  // Swaps the price table (SIGHUP, handled on the event loop's thread);
  // calls from now on use the new one.
  void SetPricing(std::shared_ptr<const genai::PricingTable> pricing);

 private:
  process::ProcessTable& processes_;
  std::function<uint64_t()> now_ns_;
  std::shared_ptr<const genai::PricingTable> pricing_;

  BudgetedHistogram duration_;
  BudgetedHistogram time_to_first_chunk_;
  BudgetedHistogram token_usage_;
  BudgetedCounter tokens_;
  BudgetedCounter cost_;
  BudgetedCounter unpriced_;
  BudgetedCounter usage_unknown_;
  BudgetedCounter retries_;
  BudgetedGauge rate_limit_;
  std::set<std::string> warned_;  // unpriced models already logged
};

}  // namespace sightline::metrics
