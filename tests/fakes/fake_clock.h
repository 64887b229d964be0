// FakeClock: a Clock that moves only when a test advances it.
//
// Thread-safety: safe from any thread.
#ifndef SLICEKEEPER_TESTS_FAKES_FAKE_CLOCK_H_
#define SLICEKEEPER_TESTS_FAKES_FAKE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "common/clock.h"

namespace slicekeeper::testing {

class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock l(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock l(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::testing

#endif  // SLICEKEEPER_TESTS_FAKES_FAKE_CLOCK_H_
