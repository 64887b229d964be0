// Randomized property test: long seeded churn against the incremental reconciler, checked at every
// step against the oracle (tests/reconcile/oracle.h) run on the reconciler's own current slices,
// plus the slice invariants (random_churn.h). Seeds are printed; SK_RECONCILE_SEED=<n> runs one
// seed instead of the defaults and SK_RECONCILE_STEPS=<n> changes the steps per seed.
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "tests/reconcile/random_churn.h"

namespace slicekeeper::reconcile {
namespace {

// Steps per seed; the test runs under ASan in CI too, so keep the total around a few thousand
// (fuzz/reconcile_diff_fuzz.cc explores further, steered by coverage).
constexpr int kStepsPerSeed = 600;

constexpr uint64_t kSeeds[] = {20261124, 1, 2, 3, 4};

class RandomReconcileTest : public ::testing::TestWithParam<uint64_t> {};

// At every step of a long random churn the incremental plan has the oracle's C/U/D counts and
// slice sizes, and the slices hold exactly the desired endpoints within the limits.
TEST_P(RandomReconcileTest, ChurnMatchesOracle) {
  uint64_t seed = GetParam();
  if (std::optional<uint64_t> env = EnvNumber("SK_RECONCILE_SEED")) {
    if (GetParam() != kSeeds[0]) GTEST_SKIP() << "SK_RECONCILE_SEED set: one seed only";
    seed = *env;
  }
  const int steps = static_cast<int>(EnvNumber("SK_RECONCILE_STEPS").value_or(kStepsPerSeed));
  std::cout << "[ seed     ] " << seed << " (" << steps << " steps)" << std::endl;
  RecordProperty("seed", std::to_string(seed));
  RandomChurn(seed, ChurnCheck::kOracle).Run(steps);
}

// The same churn on a replica over etcd: after each commit the state follows the slices the log
// says were written (ServiceState::ApplyWrites) instead of the plan, and every later plan is
// still the oracle's and the invariants hold; nearly every step follows without a rebuild.
TEST_P(RandomReconcileTest, ChurnOnAReplicaFollowingWrittenSlicesMatchesOracle) {
  const uint64_t seed = GetParam();
  std::cout << "[ seed     ] " << seed << std::endl;
  RandomChurn churn(seed, ChurnCheck::kOracle);
  churn.as_replica = true;
  ASSERT_TRUE(churn.Run(kStepsPerSeed / 2));
  EXPECT_GT(churn.replica_followed(), 0);
  EXPECT_LE(churn.replica_rebuilt(), churn.replica_followed() / 10)
      << "ApplyWrites gave up on " << churn.replica_rebuilt() << " steps";
}

INSTANTIATE_TEST_SUITE_P(Seeds, RandomReconcileTest, ::testing::ValuesIn(kSeeds));

}  // namespace
}  // namespace slicekeeper::reconcile
