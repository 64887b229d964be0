// Seeded random churn of one service after another, through the incremental reconciler (Harness,
// test_util.h), checked at every step: the shared engine of random_test.cc (Kubernetes mode,
// against the oracle) and distribution_test.cc (packed mode, against the write budget).
//
// Services vary address types (IPv4, dual-stack, derived), headless, PreferClose, max in
// {1, 3, 10, 100} and 5 port sets (one a reordering of another). Batches add, remove, flip
// conditions, terminate, move port set, zone or node, bump uid or resourceVersion, re-upsert
// unchanged, remove unknown endpoints, or wipe the service. Every step also checks the slice
// invariants (only served types; no slice above max; every slice managed and owned; each desired
// identity exactly once, in its port group, not stale; no undesired endpoint; exact
// endpoint_count; one placeholder per served type without endpoints, no other empty slice),
// restarts from the stored slices every 25 steps, and checks that re-sending the desired state,
// or an empty batch, plans nothing.
//
// Thread-safety: none; one RandomChurn per test.
#ifndef SLICEKEEPER_TESTS_RECONCILE_RANDOM_CHURN_H_
#define SLICEKEEPER_TESTS_RECONCILE_RANDOM_CHURN_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "server/reconcile/reconciler.h"
#include "tests/reconcile/oracle.h"
#include "tests/reconcile/test_util.h"

namespace slicekeeper::reconcile {

// What each step is checked against besides the invariants.
enum class ChurnCheck {
  // Kubernetes mode: the oracle's create / update / delete counts and slice sizes per group.
  kOracle,
  // Packed mode: the plan adds at most its budget of writes to the Kubernetes plan of the same
  // batch (computed on the same state), and says so (Plan::packing).
  kPackedBudget,
};

// The value of environment variable `name`, if set.
std::optional<uint64_t> EnvNumber(const char* name);

// Where RandomChurn's choices come from (a UniformRandomBitGenerator): a seeded generator, or, for
// fuzzing (fuzz/reconcile_diff_fuzz.cc), the bytes of an input first, one a choice, then the
// generator seeded with the input's size. Each byte is repeated over the 64 bits, so that the
// standard distributions (which take the high bits of a product) map byte values evenly onto their
// ranges and a mutated byte changes one choice.
class ChurnEntropy {
 public:
  using result_type = uint64_t;
  explicit ChurnEntropy(uint64_t seed) : generator_(seed) {}
  ChurnEntropy(const uint8_t* data, size_t size) : data_(data), size_(size), generator_(size) {}

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  result_type operator()() {
    if (position_ < size_) return uint64_t{data_[position_++]} * 0x0101010101010101ull;
    return generator_();
  }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t position_ = 0;
  std::mt19937_64 generator_;
};

class RandomChurn {
 public:
  // `options` (max_endpoints_per_slice aside, which each service picks) is what the reconciler
  // runs with.
  RandomChurn(uint64_t seed, ChurnCheck check, Options options = Options());
  // Choices from `entropy` (fuzzing); the seed in failure messages is 0.
  RandomChurn(ChurnEntropy entropy, ChurnCheck check, Options options = Options());

  // Runs `steps` steps over successive services; stops at the first failure (reported with
  // ADD_FAILURE) and returns false.
  bool Run(int steps);

  // Called on every plan the reconciler returns, before it is checked: the fuzz target's planted
  // bug (a reconciler that loses a write) uses it to prove the checks catch a wrong plan.
  std::function<void(Plan&)> tamper;
  // Applies each plan as a replica over etcd does (Harness::ApplyAsReplica: the state follows the
  // written slices, not the plan), so every later step and check runs on a state built that way.
  bool as_replica = false;
  // With as_replica: steps whose state followed the writes, and steps that had to rebuild it.
  int64_t replica_followed() const { return replica_followed_; }
  int64_t replica_rebuilt() const { return replica_rebuilt_; }
  // The largest size a service aims at (the model picks 0 to 2 000): the fuzz target keeps runs
  // short with a smaller one.
  int max_service_size = 2000;

  // The mutable attributes of one endpoint of the model; Build turns them into an Endpoint.
  struct Props {
    int index = 0;             // address and pod number
    std::string address_type;  // IPv4 / IPv6
    bool hostname = false;
    int ready = 1;  // -1 nil, 0 false, 1 true
    int serving = 1;
    int terminating = -1;
    int node = 0;
    int zone = 0;  // -1 no zone
    int uid_gen = 0;
    int resource_version = 0;
    int port_set = 0;
    EndpointPtr built;  // Build(*this) as last upserted
  };

  // Over the run: endpoints the repack moved, and extra writes it made.
  int64_t moved() const { return moved_; }
  int64_t extra_writes() const { return extra_writes_; }

 private:
  using Key = std::pair<std::string, std::string>;                  // (address type, identity)
  using GroupSizes = std::map<std::string, std::multiset<size_t>>;  // "type ports" -> sizes

  static EndpointPtr Build(const Props& p, bool identity_only);

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  // random_churn_model.cc: the service and its desired endpoints.
  void NewService();
  std::vector<EndpointDelta> MakeBatch();
  void AddOne(std::vector<EndpointDelta>& batch);
  void ChangeOne(std::vector<EndpointDelta>& batch);
  void Upsert(Props p, std::vector<EndpointDelta>& batch);
  void Remove(size_t pos, std::vector<EndpointDelta>& batch);
  std::vector<oracle::DesiredEndpoint> DesiredSet() const;
  // random_churn.cc: the checks.
  bool Step();
  bool CompareWithOracle(const Plan& plan, const oracle::Result& want);
  bool CheckBudget(const Plan& plan, const Plan& kubernetes);
  std::vector<std::string> InvariantErrors() const;
  bool CheckIdempotent();
  // What a failure message needs to reproduce and understand the step.
  std::string Where() const;

  const std::optional<uint64_t> seed_;  // nullopt: choices from a fuzz input
  const ChurnCheck check_;
  const Options options_;
  ChurnEntropy rng_;
  const std::vector<PortListPtr> port_sets_;

  // The current service (its record, state and limit) and its desired endpoints (the model).
  std::optional<Harness> h_;
  int64_t replica_followed_ = 0;
  int64_t replica_rebuilt_ = 0;
  int max_ = 100;
  int target_ = 0;
  bool ipv6_ = false;
  std::vector<Props> members_;
  std::map<Key, size_t> position_;
  int next_index_ = 1;
  int64_t next_name_ = 0;
  bool first_step_ = true;
  // kPackedBudget: the unspent earnings, as the reconciler must keep them.
  double credit_ = 0;
  int64_t moved_ = 0;
  int64_t extra_writes_ = 0;
  // The step being checked.
  int step_ = 0;
  GroupSizes before_;
  std::vector<EndpointDelta> batch_;
};

}  // namespace slicekeeper::reconcile

#endif  // SLICEKEEPER_TESTS_RECONCILE_RANDOM_CHURN_H_
