// Differential fuzz target: the incremental reconciler (server/reconcile/reconciler.h) against the
// oracle (tests/reconcile/oracle.h), a full re-implementation of Kubernetes' reconcile written
// independently from docs/kubernetes-behaviour.md. The input's bytes are the choices of
// tests/reconcile/random_churn.h (one byte a choice: the service's address types, headless,
// hints, maximum per slice, then each batch's adds, removes, condition flips, port-set, zone and
// node moves, uid bumps, wipes), so coverage steers the change sequence itself. Every step must
// have the oracle's create / update / delete counts and slice sizes, keep the slice invariants
// (each desired endpoint exactly once, none above the maximum, ...), survive a restart from its
// slices, and plan nothing when the desired state is sent again. Inputs of odd length run as a
// replica over etcd does: the state follows each plan's written slices (ServiceState::ApplyWrites)
// instead of the plan. Any difference aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "tests/reconcile/random_churn.h"

namespace {

// Steps a run, and the largest service: short runs, so that the fuzzer tries many sequences.
constexpr int kSteps = 20;
constexpr int kMaxServiceSize = 60;

#ifdef SK_FUZZ_PLANTED
bool Contains(const uint8_t* data, size_t size, const char* needle) {
  const size_t n = std::strlen(needle);
  for (size_t i = 0; i + n <= size; ++i) {
    if (std::memcmp(data + i, needle, n) == 0) return true;
  }
  return false;
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using slicekeeper::reconcile::ChurnCheck;
  using slicekeeper::reconcile::ChurnEntropy;
  using slicekeeper::reconcile::RandomChurn;
  RandomChurn churn(ChurnEntropy(data, size), ChurnCheck::kOracle);
  churn.max_service_size = kMaxServiceSize;
  churn.as_replica = size % 2 == 1;
#ifdef SK_FUZZ_PLANTED
  // The planted bug (scripts/fuzz.sh proves the harness finds it): on inputs holding "zzz", a
  // reconciler that loses the last write of every plan. The comparison with the oracle must catch
  // it; nothing else here traps.
  if (Contains(data, size, "zzz")) {
    churn.tamper = [](slicekeeper::reconcile::Plan& plan) {
      if (!plan.ops.empty()) plan.ops.pop_back();
    };
  }
#endif
  if (!churn.Run(kSteps)) std::abort();
  return 0;
}
