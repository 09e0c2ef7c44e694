#include "metrics/genai_metrics.h"

#include <spdlog/spdlog.h>

#include "metrics/service_labels.h"
#include "util/time.h"

namespace sightline::metrics {
namespace {

// OpenTelemetry's advised boundaries for gen_ai.client.operation.duration
// (also used for the time to first chunk) and gen_ai.client.token.usage.
const prometheus::Histogram::BucketBoundaries kDurationBuckets = {
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
const prometheus::Histogram::BucketBoundaries kTokenBuckets = {
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};

prometheus::Histogram::BucketBoundaries Buckets(const prometheus::Histogram::BucketBoundaries& b) {
  return b;
}

}  // namespace

GenAiMetrics::GenAiMetrics(prometheus::Registry& r,
                           prometheus::Family<prometheus::Counter>& dropped,
                           process::ProcessTable& processes, size_t budget,
                           std::shared_ptr<const genai::PricingTable> pricing,
                           std::function<uint64_t()> now_ns)
    : processes_(processes),
      now_ns_(std::move(now_ns)),
      pricing_(std::move(pricing)),
      duration_(prometheus::BuildHistogram()
                    .Name("gen_ai_client_operation_duration_seconds")
                    .Help("Duration of AI API calls, first request byte sent to last response "
                          "byte read")
                    .Register(r),
                budget, dropped, Buckets(kDurationBuckets)),
      time_to_first_chunk_(prometheus::BuildHistogram()
                               .Name("gen_ai_client_operation_time_to_first_chunk_seconds")
                               .Help("Streaming AI API calls: first request byte sent to the "
                                     "first chunk carrying content")
                               .Register(r),
                           budget, dropped, Buckets(kDurationBuckets)),
      token_usage_(prometheus::BuildHistogram()
                       .Name("gen_ai_client_token_usage")
                       .Help("Tokens per AI API call (input includes cached tokens)")
                       .Register(r),
                   budget, dropped, Buckets(kTokenBuckets)),
      tokens_(prometheus::BuildCounter()
                  .Name("gen_ai_client_tokens_total")
                  .Help("Tokens of AI API calls by type: input (cached included), cache_read, "
                        "cache_creation, output (reasoning included), reasoning")
                  .Register(r),
              budget, dropped),
      cost_(prometheus::BuildCounter()
                .Name("gen_ai_client_cost_usd_total")
                .Help("Cost of AI API calls in USD, from the pricing table")
                .Register(r),
            budget, dropped),
      unpriced_(prometheus::BuildCounter()
                    .Name("gen_ai_client_unpriced_operations_total")
                    .Help("AI API calls with tokens but no price in the table: not in the cost")
                    .Register(r),
                budget, dropped),
      usage_unknown_(prometheus::BuildCounter()
                         .Name("gen_ai_client_token_usage_unknown_total")
                         .Help("AI API calls whose response carried no token usage (streams "
                               "without include_usage): not counted as zero tokens")
                         .Register(r),
                     budget, dropped),
      retries_(prometheus::BuildCounter()
                   .Name("gen_ai_client_retries_total")
                   .Help("AI API calls that were SDK retries (x-stainless-retry-count > 0)")
                   .Register(r),
               budget, dropped),
      rate_limit_(prometheus::BuildGauge()
                      .Name("gen_ai_client_rate_limit_remaining")
                      .Help("Rate-limit headroom the provider reported on its last response")
                      .Register(r),
                  budget, dropped) {}

void GenAiMetrics::SetPricing(std::shared_ptr<const genai::PricingTable> pricing) {
  pricing_ = std::move(pricing);
}

void GenAiMetrics::OnCall(const conn::ConnectionInfo& conn, const genai::Call& call) {
  const auto& proc = processes_.Lookup(conn.pid, conn.comm, now_ns_());
  const genai::Detection& d = call.detection;
  const genai::Outcome& o = call.outcome;
  const std::string& provider = d.provider;
  const std::string response_model = o.response_model;

  prometheus::Labels op = ServiceLabels(proc, {{"gen_ai_provider_name", provider},
                                              {"gen_ai_operation_name", d.operation},
                                              {"gen_ai_request_model", d.request_model},
                                              {"gen_ai_response_model", response_model}});
  prometheus::Labels with_error = op;
  with_error["error_type"] = o.error_type;
  duration_.Get(with_error).Observe(
      util::SecondsBetween(call.request_start_ns, call.response_end_ns));
  if (d.stream && o.first_chunk_ns) {
    time_to_first_chunk_.Get(with_error).Observe(
        util::SecondsBetween(call.request_start_ns, *o.first_chunk_ns));
  }
  if (d.retry_count > 0) {
    retries_
        .Get(ServiceLabels(proc, {{"gen_ai_provider_name", provider},
                                  {"gen_ai_operation_name", d.operation}}))
        .Increment();
  }
  for (const auto& [type, remaining] : call.rate_limits) {
    rate_limit_
        .Get(ServiceLabels(proc, {{"gen_ai_provider_name", provider}, {"limit_type", type}}))
        .Set(remaining);
  }

  if (!o.usage) {
    // Errors carry no usage by nature; only a call that succeeded without
    // reporting its tokens is "unknown".
    if (o.error_type.empty()) {
      usage_unknown_
          .Get(ServiceLabels(proc, {{"gen_ai_provider_name", provider},
                                    {"gen_ai_operation_name", d.operation},
                                    {"gen_ai_request_model", d.request_model}}))
          .Increment();
    }
    return;
  }
  const genai::Usage& u = *o.usage;
  auto typed = [&](const char* type) {
    prometheus::Labels l = op;
    l["gen_ai_token_type"] = type;
    return l;
  };
  token_usage_.Get(typed("input")).Observe(double(u.input));
  token_usage_.Get(typed("output")).Observe(double(u.output));
  tokens_.Get(typed("input")).Increment(double(u.input));
  tokens_.Get(typed("output")).Increment(double(u.output));
  tokens_.Get(typed("cache_read")).Increment(double(u.cache_read));
  tokens_.Get(typed("cache_creation")).Increment(double(u.cache_creation));
  tokens_.Get(typed("reasoning")).Increment(double(u.reasoning));

  prometheus::Labels priced = ServiceLabels(proc, {{"gen_ai_provider_name", provider},
                                                  {"gen_ai_request_model", d.request_model},
                                                  {"gen_ai_response_model", response_model}});
  const std::optional<double> cost = genai::CallCost(pricing_.get(), call);
  if (!cost) {
    unpriced_.Get(priced).Increment();
    // Once per model, so that a busy unpriced model cannot flood the log.
    std::string key = provider + "/" + response_model + "/" + d.request_model;
    if (warned_.size() < 1024 && warned_.insert(key).second) {
      spdlog::warn(
          "no price for {} model {} (request model {}): its calls are counted in "
          "gen_ai_client_unpriced_operations_total, not in the cost",
          provider, response_model.empty() ? "?" : response_model, d.request_model);
    }
    return;
  }
  cost_.Get(priced).Increment(*cost);
}

}  // namespace sightline::metrics
