// Per-identity limits that protect the server from its clients:
//   - WriteLimiter: a token bucket per identity (`rate` writes per second, `burst` at once);
//     a write over it is RESOURCE_EXHAUSTED. Each write RPC (or StreamChanges batch) is one
//     token, whatever its size: the size is bounded by --max_batch_changes already.
//   - StreamLimiter: at most `max` open long-lived streams (Watch, StreamChanges, and the
//     front-ends' watches) per identity; one more is RESOURCE_EXHAUSTED. A StreamSlot gives its
//     place back when destroyed.
// Anonymous callers (open mode) share the identity "". A zero rate or max disables the limit.
//
// Thread-safety: every method may be called concurrently; a StreamSlot may be destroyed on any
// thread, and must not outlive its limiter.
#ifndef SLICEKEEPER_SERVER_AUTH_LIMITS_H_
#define SLICEKEEPER_SERVER_AUTH_LIMITS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"

namespace slicekeeper::auth {

class WriteLimiter {
 public:
  // `clock` null: the real clock; else must outlive the limiter.
  WriteLimiter(double rate, double burst, Clock* clock = nullptr);

  // Takes a token of `identity`'s bucket. OK, or RESOURCE_EXHAUSTED naming the identity and
  // the limit.
  absl::Status Admit(absl::string_view identity) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
  };

  // Immutable after construction.
  const double rate_;
  const double burst_;
  Clock* const clock_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

class StreamLimiter {
 public:
  // An open stream's place; gives it back when destroyed.
  class Slot {
   public:
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    friend class StreamLimiter;
    Slot(StreamLimiter* limiter, std::string identity)
        : limiter_(limiter), identity_(std::move(identity)) {}
    StreamLimiter* const limiter_;
    const std::string identity_;
  };

  explicit StreamLimiter(int max) : max_(max) {}

  // A slot for one more stream of `identity`, or RESOURCE_EXHAUSTED naming the identity and the
  // limit.
  absl::StatusOr<std::unique_ptr<Slot>> Acquire(absl::string_view identity)
      ABSL_LOCKS_EXCLUDED(mu_);

  int open(absl::string_view identity) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Release(const std::string& identity) ABSL_LOCKS_EXCLUDED(mu_);

  const int max_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::auth

#endif  // SLICEKEEPER_SERVER_AUTH_LIMITS_H_
