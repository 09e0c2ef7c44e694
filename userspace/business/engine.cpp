#include "business/engine.h"

#include <utility>

namespace sightline::business {
namespace {

constexpr std::string_view kUnknown = "unknown";
constexpr std::string_view kOther = "other";

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kFollowed:
      return "followed";
    case Outcome::kShed:
      return "shed";
    case Outcome::kReloaded:
      return "reloaded";
  }
  return "unknown";
}

// What a metric's series depend on; equal signatures across a reload keep
// the series (and the distinct values already admitted).
std::string Signature(const Rule& r) {
  std::string s =
      (r.type == MetricType::kCounter ? "counter\n" : "gauge\n") + r.name + "\n" + r.help + "\n";
  for (const LabelRule& l : r.labels) {
    s += l.name + "=" + std::to_string(l.max_values);
    for (const auto& v : l.values) s += "," + v;
    s += "\n";
  }
  return s;
}

}  // namespace

struct Engine::Metric {
  std::string signature;
  std::string name;
  prometheus::Family<prometheus::Counter>* counter_family = nullptr;
  prometheus::Family<prometheus::Gauge>* gauge_family = nullptr;
  std::unique_ptr<metrics::BudgetedCounter> counter;
  std::unique_ptr<metrics::BudgetedGauge> gauge;
  std::vector<std::unordered_set<std::string>> seen;  // per label bounded by max_values
  std::array<prometheus::Counter*, size_t(Reason::kCount)> errors{};
};

Engine::Engine(prometheus::Registry& registry, prometheus::Family<prometheus::Counter>& dropped,
               size_t series_budget)
    : registry_(registry),
      dropped_(dropped),
      series_budget_(series_budget),
      rules_(std::make_unique<const RuleSet>()),
      errors_(prometheus::BuildCounter()
                  .Name("sightline_business_rule_errors_total")
                  .Help("Business rule matches whose value or label could not be read, or "
                        "whose label value was folded, by metric and reason")
                  .Register(registry)),
      exchanges_(prometheus::BuildCounter()
                     .Name("sightline_business_exchanges_total")
                     .Help("HTTP exchanges a business rule may need: followed (bodies read), "
                           "shed (too many in flight), reloaded (rules changed meanwhile)")
                     .Register(registry)),
      reloads_(prometheus::BuildCounter()
                   .Name("sightline_business_rules_reloads_total")
                   .Help("Business rules file reloads on SIGHUP, by result (ok, failed)")
                   .Register(registry)),
      loaded_(prometheus::BuildGauge()
                  .Name("sightline_business_rules")
                  .Help("Business rules in force")
                  .Register(registry)
                  .Add({})) {
  for (Outcome o : {Outcome::kFollowed, Outcome::kShed, Outcome::kReloaded}) {
    outcome_counters_[size_t(o)] = &exchanges_.Add({{"outcome", std::string(OutcomeName(o))}});
  }
  reloads_.Add({{"result", "ok"}});
  reloads_.Add({{"result", "failed"}});
}

Engine::~Engine() = default;

std::unique_ptr<Engine::Metric> Engine::Make(const Rule& rule) {
  auto m = std::make_unique<Metric>();
  m->signature = Signature(rule);
  m->name = rule.name;
  m->seen.resize(rule.labels.size());
  if (rule.type == MetricType::kCounter) {
    m->counter_family =
        &prometheus::BuildCounter().Name(rule.name).Help(rule.help).Register(registry_);
    m->counter =
        std::make_unique<metrics::BudgetedCounter>(*m->counter_family, series_budget_, dropped_);
  } else {
    m->gauge_family = &prometheus::BuildGauge().Name(rule.name).Help(rule.help).Register(registry_);
    m->gauge = std::make_unique<metrics::BudgetedGauge>(*m->gauge_family, series_budget_, dropped_);
  }
  return m;
}

void Engine::Install(RuleSet rules) {
  std::vector<std::unique_ptr<Metric>> next(rules.rules.size());
  for (size_t i = 0; i < rules.rules.size(); ++i) {
    const std::string sig = Signature(rules.rules[i]);
    for (auto& old : metrics_) {
      if (old && old->signature == sig) {
        next[i] = std::move(old);
        break;
      }
    }
  }
  // Families no rule keeps go before new ones register: a name may come back
  // with another type or help text.
  for (auto& old : metrics_) {
    if (!old) continue;
    old->counter.reset();
    old->gauge.reset();
    if (old->counter_family) registry_.Remove(*old->counter_family);
    if (old->gauge_family) registry_.Remove(*old->gauge_family);
  }
  for (size_t i = 0; i < rules.rules.size(); ++i) {
    if (!next[i]) next[i] = Make(rules.rules[i]);
  }
  metrics_ = std::move(next);
  rules_ = std::make_unique<const RuleSet>(std::move(rules));
  loaded_.Set(double(rules_->rules.size()));
}

std::string Engine::Bound(Metric& m, const LabelRule& rule, size_t label,
                          std::optional<std::string> raw, size_t index) {
  if (!raw) return std::string(kUnknown);
  std::string v = std::move(*raw);
  if (SanitizeUtf8(&v)) CountError(index, Reason::kLabelNotUtf8);
  if (TruncateLabel(&v, kMaxLabelValueBytes)) CountError(index, Reason::kLabelTruncated);
  if (!rule.values.empty()) {
    for (const auto& allowed : rule.values) {
      if (allowed == v) return v;
    }
    CountError(index, Reason::kLabelOther);
    return std::string(kOther);
  }
  auto& seen = m.seen[label];
  if (seen.count(v)) return v;
  if (seen.size() >= rule.max_values) {
    CountError(index, Reason::kLabelOverflow);
    return std::string(metrics::kOverflowValue);
  }
  seen.insert(v);
  return v;
}

void Engine::Record(size_t index, const prometheus::Labels& service,
                    std::vector<std::optional<std::string>> labels, double value) {
  if (index >= metrics_.size()) return;
  const Rule& rule = rules_->rules[index];
  Metric& m = *metrics_[index];
  prometheus::Labels series = service;
  for (size_t i = 0; i < rule.labels.size() && i < labels.size(); ++i) {
    series.emplace(rule.labels[i].name, Bound(m, rule.labels[i], i, std::move(labels[i]), index));
  }
  if (m.counter) {
    m.counter->Get(series).Increment(value);
  } else {
    m.gauge->Get(series).Set(value);
  }
}

void Engine::CountError(size_t index, Reason reason) {
  if (index >= metrics_.size() || reason == Reason::kCount) return;
  Metric& m = *metrics_[index];
  auto& counter = m.errors[size_t(reason)];
  if (!counter) {
    counter = &errors_.Add({{"metric", m.name}, {"reason", std::string(ReasonName(reason))}});
  }
  counter->Increment();
}

void Engine::CountExchange(Outcome outcome) { outcome_counters_[size_t(outcome)]->Increment(); }

void Engine::CountReload(bool ok) { reloads_.Add({{"result", ok ? "ok" : "failed"}}).Increment(); }

}  // namespace sightline::business
