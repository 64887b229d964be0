// Backoff: jittered exponential delays between retries (gRPC's connection-backoff shape), for
// every retry loop: libslicekeeper's calls and watch reconnects, the etcd client's retries and
// watch reconnects.
//
// Delay n is min(initial * multiplier^n, max), then spread uniformly by +/- jitter (a fraction), so
// many clients that failed together do not retry together; jitter 0 gives the exact steps.
//
// Thread-safety: not thread-safe; one Backoff per retry loop.
//
// Example:
//   Backoff backoff(BackoffOptions{});
//   while (!TryOnce()) absl::SleepFor(backoff.Next());
#ifndef SLICEKEEPER_COMMON_BACKOFF_H_
#define SLICEKEEPER_COMMON_BACKOFF_H_

#include <cstdint>

#include "absl/random/random.h"
#include "absl/time/time.h"

namespace slicekeeper {

struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(50);
  absl::Duration max = absl::Seconds(5);
  double multiplier = 1.6;
  // In [0, 1): each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter].
  double jitter = 0.2;
};

class Backoff {
 public:
  // REQUIRES: 0 < initial <= max, multiplier >= 1, 0 <= jitter < 1.
  explicit Backoff(const BackoffOptions& options) : options_(options), next_(options.initial) {}

  // The delay to wait before the next attempt; each call grows the base delay.
  absl::Duration Next();
  // Back to the initial delay (after a success).
  void Reset() { next_ = options_.initial; }

 private:
  const BackoffOptions options_;
  absl::Duration next_;
  absl::BitGen gen_;
};

}  // namespace slicekeeper

#endif  // SLICEKEEPER_COMMON_BACKOFF_H_
