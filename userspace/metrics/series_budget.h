// A cap on the number of series one metric family may create.
//
// Label values come from observed traffic (routes, models, hosts), so a
// family's series count is decided by the outside world. A budgeted family
// admits up to `budget` distinct label sets; after that, a new label set is
// folded into an overflow series that keeps the label names and the values
// naming the service (`service_name` and the k8s_* labels of its pod) and
// replaces every other value with "_overflow".
// Each refused label set is counted once in
// sightline_series_dropped_total{metric="<family name>"}.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/labels.h"
#include "process/identity_labels.h"

namespace sightline::metrics {

inline constexpr std::string_view kOverflowValue = "_overflow";
inline constexpr std::string_view kServiceNameLabel = process::kServiceNameLabel;
// service_name and the Kubernetes labels that come with it: who a series is
// about, kept when its other labels fold into the overflow series.
using process::IsIdentityLabel;
inline constexpr std::string_view kSeriesDroppedMetric =
    "sightline_series_dropped_total";

// Refused label sets remembered (by 64-bit hash) so each is counted once.
// Past this many, every further fold of an unremembered set is counted.
inline constexpr std::size_t kDefaultMaxRememberedRefusals = 65536;

// Stable 64-bit hash of a label set (FNV-1a over length-prefixed names and
// values, so {"a":"bc"} and {"ab":"c"} differ).
uint64_t HashLabels(const prometheus::Labels& labels);

// The label set a refused `labels` folds into.
prometheus::Labels OverflowLabels(const prometheus::Labels& labels);

template <typename T>
class BudgetedFamily {
 public:
  // `dropped` is the sightline_series_dropped_total family; this family's
  // series in it is created at construction, so it reads 0 until a drop.
  BudgetedFamily(
      prometheus::Family<T>& family, std::size_t budget,
      prometheus::Family<prometheus::Counter>& dropped,
      std::size_t max_remembered =
          kDefaultMaxRememberedRefusals) requires(!std::
                                                      is_same_v<T,
                                                                prometheus::
                                                                    Histogram>);

  BudgetedFamily(
      prometheus::Family<T>& family, std::size_t budget,
      prometheus::Family<prometheus::Counter>& dropped,
      prometheus::Histogram::BucketBoundaries buckets,
      std::size_t max_remembered = kDefaultMaxRememberedRefusals) requires
      std::is_same_v<T, prometheus::Histogram>;

  BudgetedFamily(const BudgetedFamily&) = delete;
  BudgetedFamily& operator=(const BudgetedFamily&) = delete;

  // The metric for `labels`, or the overflow metric once the budget is
  // spent. The reference stays valid as long as the family does. Throws
  // std::invalid_argument (from the family) for invalid label names.
  T& Get(const prometheus::Labels& labels);

  // Distinct label sets admitted so far (the overflow series excluded).
  std::size_t series() const;
  std::size_t budget() const { return budget_; }
  // Current value of this family's dropped counter.
  double dropped() const { return dropped_.Value(); }

 private:
  struct LabelsHash {
    std::size_t operator()(const prometheus::Labels& labels) const {
      return static_cast<std::size_t>(HashLabels(labels));
    }
  };
  using SeriesMap = std::unordered_map<prometheus::Labels, T*, LabelsHash>;

  T& Add(const prometheus::Labels& labels);

  prometheus::Family<T>& family_;
  const std::size_t budget_;
  const std::size_t max_remembered_;
  prometheus::Counter& dropped_;
  prometheus::Histogram::BucketBoundaries buckets_;

  mutable std::mutex mutex_;
  SeriesMap admitted_;
  SeriesMap overflow_;
  std::unordered_set<uint64_t> refused_;
};

using BudgetedCounter = BudgetedFamily<prometheus::Counter>;
using BudgetedGauge = BudgetedFamily<prometheus::Gauge>;
using BudgetedHistogram = BudgetedFamily<prometheus::Histogram>;

extern template class BudgetedFamily<prometheus::Counter>;
extern template class BudgetedFamily<prometheus::Gauge>;
extern template class BudgetedFamily<prometheus::Histogram>;

}  // namespace sightline::metrics
