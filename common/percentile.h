// Percentile: the one definition of a latency percentile for every report (skctl churn, the
// benchmarks), so figures from different tools compare.
//
// Nearest rank: the p-quantile of n samples is the smallest sample with at least ceil(p * n) of
// the samples at or below it (p = 0.5 of {1, 2, 3, 4} is 2; p = 0.99 of 100 samples is the 99th
// smallest). O(n): the samples are partially reordered, not sorted.
//
// Thread-safety: a stateless function; the caller owns the samples.
#ifndef SLICEKEEPER_COMMON_PERCENTILE_H_
#define SLICEKEEPER_COMMON_PERCENTILE_H_

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "absl/types/span.h"

namespace slicekeeper {

// REQUIRES: 0 <= p <= 1. Returns 0 for no samples.
inline double Percentile(absl::Span<double> samples, double p) {
  if (samples.empty()) return 0;
  const double rank = std::ceil(p * static_cast<double>(samples.size()));
  const size_t k = rank < 1 ? 0 : std::min(samples.size(), static_cast<size_t>(rank)) - 1;
  std::nth_element(samples.begin(), samples.begin() + k, samples.end());
  return samples[k];
}

}  // namespace slicekeeper

#endif  // SLICEKEEPER_COMMON_PERCENTILE_H_
