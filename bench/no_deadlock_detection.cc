// Linked into every in-process benchmark: measures the server's code as server/main.cc runs it.
// Debian builds Abseil without NDEBUG, so every absl::Mutex acquisition (ours and gRPC's) is
// checked for lock-order cycles by default — 4 % of a QueryEndpoints profile. Tests keep it on.
#include "absl/synchronization/mutex.h"

namespace {

const bool kDeadlockDetectionOff = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

}  // namespace
