// Backoff: jittered exponential delays between retries (gRPC's connection-backoff shape).
//
// Delay n is min(initial * multiplier^n, max), then spread uniformly by +/- jitter (a fraction), so
// many clients that failed together do not retry together.
//
// Thread-safety: not thread-safe; one Backoff per retry loop.
//
// Example:
//   Backoff backoff(BackoffOptions{});
//   while (!TryOnce()) absl::SleepFor(backoff.Next());
#ifndef SLICEKEEPER_CLIENT_BACKOFF_H_
#define SLICEKEEPER_CLIENT_BACKOFF_H_

#include <cstdint>

#include "absl/random/random.h"
#include "absl/time/time.h"

namespace slicekeeper::client {

struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(50);
  absl::Duration max = absl::Seconds(5);
  double multiplier = 1.6;
  // In [0, 1): each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter].
  double jitter = 0.2;
};

class Backoff {
 public:
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

}  // namespace slicekeeper::client

#endif  // SLICEKEEPER_CLIENT_BACKOFF_H_
