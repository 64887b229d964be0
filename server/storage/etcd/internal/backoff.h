// Backoff: jittered exponential delays for the etcd client's retries and watch reconnects.
//
// Thread-safety: none; one per retry loop.
#ifndef SLICEKEEPER_SERVER_STORAGE_ETCD_INTERNAL_BACKOFF_H_
#define SLICEKEEPER_SERVER_STORAGE_ETCD_INTERNAL_BACKOFF_H_

#include <algorithm>

#include "absl/random/random.h"
#include "absl/time/time.h"

namespace slicekeeper::etcd::internal {

class Backoff {
 public:
  // REQUIRES: 0 < initial <= max.
  Backoff(absl::Duration initial, absl::Duration max) : initial_(initial), max_(max) { Reset(); }

  // The next delay: the current step with +-20% jitter (so clients that failed together do not
  // retry together), then the step doubles up to max.
  absl::Duration Next() {
    const absl::Duration delay = step_ * absl::Uniform(gen_, 0.8, 1.2);
    step_ = std::min(step_ * 2, max_);
    return delay;
  }

  void Reset() { step_ = initial_; }

 private:
  const absl::Duration initial_;
  const absl::Duration max_;
  absl::Duration step_;
  absl::BitGen gen_;
};

}  // namespace slicekeeper::etcd::internal

#endif  // SLICEKEEPER_SERVER_STORAGE_ETCD_INTERNAL_BACKOFF_H_
