// Clock: the seam through which the server reads wall time (trigger-time annotations, creation
// timestamps, bookmark timers), so tests can use a FakeClock.
//
// Thread-safety: implementations must be safe to call from any thread.
#ifndef SLICEKEEPER_COMMON_CLOCK_H_
#define SLICEKEEPER_COMMON_CLOCK_H_

#include <string>

#include "absl/time/time.h"

namespace slicekeeper {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
};

// The real wall clock. Never null, never deleted.
Clock* RealClock();

// RFC 3339 with nanoseconds, UTC ("2026-11-24T10:00:00.123456789Z"): Kubernetes' RFC3339Nano.
std::string FormatRfc3339Nano(absl::Time t);
// RFC 3339 with seconds, UTC: Kubernetes' metav1.Time (creationTimestamp).
std::string FormatRfc3339(absl::Time t);

}  // namespace slicekeeper

#endif  // SLICEKEEPER_COMMON_CLOCK_H_
