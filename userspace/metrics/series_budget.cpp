#include "metrics/series_budget.h"

namespace sightline::metrics {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

void Mix(uint64_t& h, std::string_view s) {
  uint64_t n = s.size();
  for (int i = 0; i < 8; ++i) {
    h = (h ^ (n & 0xff)) * kFnvPrime;
    n >>= 8;
  }
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * kFnvPrime;
}

}  // namespace

uint64_t HashLabels(const prometheus::Labels& labels) {
  uint64_t h = kFnvOffset;
  for (const auto& [name, value] : labels) {
    Mix(h, name);
    Mix(h, value);
  }
  return h;
}

prometheus::Labels OverflowLabels(const prometheus::Labels& labels) {
  prometheus::Labels out;
  for (const auto& [name, value] : labels) {
    out.emplace(name, IsIdentityLabel(name) ? value : std::string(kOverflowValue));
  }
  return out;
}

template <typename T>
BudgetedFamily<T>::BudgetedFamily(
    prometheus::Family<T>& family, std::size_t budget,
    prometheus::Family<prometheus::Counter>& dropped,
    std::size_t
        max_remembered) requires(!std::is_same_v<T, prometheus::Histogram>)
    : family_(family),
      budget_(budget),
      max_remembered_(max_remembered),
      dropped_(dropped.Add({{"metric", family.GetName()}})) {}

template <typename T>
BudgetedFamily<T>::BudgetedFamily(
    prometheus::Family<T>& family, std::size_t budget,
    prometheus::Family<prometheus::Counter>& dropped,
    prometheus::Histogram::BucketBoundaries buckets,
    std::size_t max_remembered) requires
    std::is_same_v<T, prometheus::Histogram>
    : family_(family),
      budget_(budget),
      max_remembered_(max_remembered),
      dropped_(dropped.Add({{"metric", family.GetName()}})),
      buckets_(std::move(buckets)) {}

template <typename T>
T& BudgetedFamily<T>::Add(const prometheus::Labels& labels) {
  if constexpr (std::is_same_v<T, prometheus::Histogram>) {
    return family_.Add(labels, buckets_);
  } else {
    return family_.Add(labels);
  }
}

template <typename T>
T& BudgetedFamily<T>::Get(const prometheus::Labels& labels) {
  std::lock_guard lock(mutex_);
  if (auto it = admitted_.find(labels); it != admitted_.end()) {
    return *it->second;
  }
  if (admitted_.size() < budget_) {
    T& metric = Add(labels);
    admitted_.emplace(labels, &metric);
    return metric;
  }

  const uint64_t hash = HashLabels(labels);
  if (refused_.count(hash) == 0) {
    // A full memory means further refusals cannot be told apart from
    // repeats, so each one is counted: over-counting beats hiding drops.
    if (refused_.size() < max_remembered_) refused_.insert(hash);
    dropped_.Increment();
  }

  prometheus::Labels folded = OverflowLabels(labels);
  if (auto it = overflow_.find(folded); it != overflow_.end()) {
    return *it->second;
  }
  T& metric = Add(folded);
  overflow_.emplace(std::move(folded), &metric);
  return metric;
}

template <typename T>
std::size_t BudgetedFamily<T>::series() const {
  std::lock_guard lock(mutex_);
  return admitted_.size();
}

template class BudgetedFamily<prometheus::Counter>;
template class BudgetedFamily<prometheus::Gauge>;
template class BudgetedFamily<prometheus::Histogram>;

}  // namespace sightline::metrics
