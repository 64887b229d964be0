#include "common/backoff.h"

#include <algorithm>

namespace slicekeeper {

absl::Duration Backoff::Next() {
  const absl::Duration base = next_;
  next_ = std::min(next_ * options_.multiplier, options_.max);
  if (options_.jitter <= 0) return base;
  const double factor = absl::Uniform(gen_, 1.0 - options_.jitter, 1.0 + options_.jitter);
  return base * factor;
}

}  // namespace slicekeeper
