// The packed distribution (reconciler.h Distribution::kPacked, docs/distribution.md §5): the
// regroup of the slices a batch writes, the budgeted repack of the others, the per-service
// annotations, and a property test over random churn (random_churn.h) in which every batch keeps
// the slice invariants and adds at most its budget of writes to Kubernetes' plan.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/reconcile/reconciler.h"
#include "tests/reconcile/random_churn.h"
#include "tests/reconcile/test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::reconcile {
namespace {

using ::testing::Each;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

Options Packed(int max, double writes_per_change = 0.01, double max_writes = 4) {
  Options o;
  o.max_endpoints_per_slice = max;
  o.distribution = Distribution::kPacked;
  o.packing.writes_per_change = writes_per_change;
  o.packing.max_writes_per_batch = max_writes;
  return o;
}

// Slices of `sizes` endpoints, stored, e(0) onwards.
std::vector<SlicePtr> Stored(const v1::ServiceRecord& svc, const std::vector<int>& sizes) {
  std::vector<SlicePtr> out;
  int next = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    out.push_back(Range(svc, absl::StrCat("foo-s", i), next, next + sizes[i]));
    next += sizes[i];
  }
  return out;
}

// Removes every other endpoint of e(0)..e(n-1).
std::vector<EndpointDelta> RemoveEvens(int n) {
  std::vector<EndpointDelta> out;
  for (int i = 0; i < n; i += 2) {
    EndpointDelta d = Upsert(E(i), Port(80));
    d.op = EndpointDelta::Op::kRemove;
    out.push_back(std::move(d));
  }
  return out;
}

// A batch that half-empties ten slices of ten: Kubernetes updates all ten and keeps them; packed
// writes as many (five updates, five deletes) and leaves five full slices.
TEST(DistributionTest, HalvedSlicesArePackedAtNoExtraWrite) {
  for (Distribution mode : {Distribution::kKubernetes, Distribution::kPacked}) {
    SCOPED_TRACE(mode == Distribution::kPacked ? "packed" : "kubernetes");
    Options o = Packed(10);
    o.distribution = mode;
    Harness h(Foo(), o);
    h.Load(Stored(h.service(), std::vector<int>(10, 10)));
    absl::StatusOr<Plan> plan = h.Reconcile(RemoveEvens(100));
    ASSERT_OK(plan);
    const Ops ops = Split(*plan);
    EXPECT_EQ(ops.creates.size() + ops.updates.size() + ops.deletes.size(), 10u);
    EXPECT_EQ(plan->packing.extra_writes, 0);
    h.Apply(*plan);
    std::vector<std::string> odd;
    for (int i = 1; i < 100; i += 2) odd.push_back(Address(i));
    EXPECT_THAT(AllAddresses(h.Slices()), UnorderedElementsAreArray(odd));
    if (mode == Distribution::kPacked) {
      EXPECT_THAT(ops.deletes, SizeIs(5)) << Describe(*plan);
      EXPECT_THAT(Sizes(h.Slices()), UnorderedElementsAre(10, 10, 10, 10, 10));
      for (const SlicePtr& s : ops.updates) EXPECT_EQ(s->generation, 2) << s->name;
      EXPECT_EQ(plan->packing.moved, 0);  // regrouped, not repacked
    } else {
      EXPECT_THAT(Sizes(h.Slices()), Each(5));
    }
  }
}

// The slices a batch writes come out sorted by condition: the endpoints it makes terminating end
// up together, so their removal later touches one slice.
TEST(DistributionTest, RegroupKeepsTerminatingTogether) {
  Harness h(Foo(), Packed(10));
  h.Load(Stored(h.service(), {10, 10, 10}));
  std::vector<EndpointDelta> terminate;
  for (int i : {0, 1, 10, 11, 20, 21}) {
    EndpointPtr e = Modified(E(i), [&](v1::Endpoint& m) {
      m.mutable_conditions()->set_ready(false);
      m.mutable_conditions()->set_terminating(true);
    });
    terminate.push_back(Upsert(std::move(e), Port(80)));
  }
  absl::StatusOr<Plan> plan = h.Reconcile(terminate);
  ASSERT_OK(plan);
  EXPECT_THAT(plan->ops, SizeIs(3));  // Kubernetes writes the same three
  h.Apply(*plan);
  int holding = 0;
  for (const SlicePtr& s : h.Slices()) {
    const auto terminating =
        std::count_if(s->endpoints.begin(), s->endpoints.end(),
                      [](const EndpointPtr& e) { return e->conditions().terminating(); });
    if (terminating > 0) {
      ++holding;
      EXPECT_EQ(terminating, 6) << s->name;
    }
  }
  EXPECT_EQ(holding, 1);
  std::vector<EndpointDelta> remove;
  for (int i : {0, 1, 10, 11, 20, 21}) {
    EndpointDelta d = Upsert(E(i), Port(80));
    d.op = EndpointDelta::Op::kRemove;
    remove.push_back(std::move(d));
  }
  absl::StatusOr<Plan> removal = h.Reconcile(remove);
  ASSERT_OK(removal);
  EXPECT_THAT(removal->ops, SizeIs(1)) << Describe(*removal);
}

// Slices the batch does not touch are repacked only as far as the budget pays: one change
// earning three writes empties two of ten half-full slices (1 + 2 extra writes), and no more.
TEST(DistributionTest, RepackStaysWithinBudget) {
  Harness h(Foo(), Packed(10, /*writes_per_change=*/3, /*max_writes=*/4));
  h.Load(Stored(h.service(), std::vector<int>(10, 5)));
  EndpointPtr flipped =
      Modified(E(0), [&](v1::Endpoint& m) { m.mutable_conditions()->set_ready(false); });
  absl::StatusOr<Plan> plan = h.Reconcile({Upsert(flipped, Port(80))});
  ASSERT_OK(plan);
  EXPECT_EQ(plan->packing.budget, 3);
  EXPECT_EQ(plan->packing.extra_writes, 3);
  EXPECT_EQ(plan->packing.moved, 10);
  const Ops ops = Split(*plan);
  EXPECT_THAT(ops.creates, IsEmpty());
  EXPECT_THAT(ops.updates, SizeIs(2)) << Describe(*plan);
  EXPECT_THAT(ops.deletes, SizeIs(2));
  h.Apply(*plan);
  EXPECT_THAT(Sizes(h.Slices()), UnorderedElementsAre(10, 10, 5, 5, 5, 5, 5, 5));
  EXPECT_THAT(AllAddresses(h.Slices()), UnorderedElementsAreArray(Addresses(0, 50)));
  // Re-sending the state changes no endpoint: nothing is paid for, nothing is written.
  absl::StatusOr<Plan> again = h.Reconcile({Upsert(flipped, Port(80))});
  ASSERT_OK(again);
  EXPECT_TRUE(again->empty()) << Describe(*again);
  // The cap: however much a batch earns, it adds at most max_writes_per_batch.
  Harness capped(Foo(), Packed(10, /*writes_per_change=*/100, /*max_writes=*/2));
  capped.Load(Stored(capped.service(), std::vector<int>(10, 5)));
  absl::StatusOr<Plan> bounded = capped.Reconcile({Upsert(flipped, Port(80))});
  ASSERT_OK(bounded);
  EXPECT_EQ(bounded->packing.budget, 2);
  EXPECT_LE(bounded->packing.extra_writes, 2);
  EXPECT_LE(bounded->ops.size(), 3u);
}

// The service's annotations override the option, both ways, and same-zone packing sorts the
// regrouped slices by zone first.
TEST(DistributionTest, AnnotationsOverrideOptions) {
  for (const auto& [option, annotation, packs] :
       std::vector<std::tuple<Distribution, std::string, bool>>{
           {Distribution::kPacked, "kubernetes", false},
           {Distribution::kKubernetes, "packed", true}}) {
    Options o = Packed(10);
    o.distribution = option;
    Harness h(Foo(), o);
    (*h.service().mutable_annotations())[kAnnotationDistribution] = annotation;
    h.Load(Stored(h.service(), std::vector<int>(10, 10)));
    absl::StatusOr<Plan> plan = h.Reconcile(RemoveEvens(100));
    ASSERT_OK(plan);
    h.Apply(*plan);
    EXPECT_THAT(h.Slices(), SizeIs(packs ? 5 : 10)) << annotation;
  }
  Harness zoned(Foo(), Packed(4));
  (*zoned.service().mutable_annotations())[kAnnotationPackedSameZone] = "true";
  std::vector<EndpointPtr> mixed;
  for (int i = 0; i < 8; ++i) mixed.push_back(E(i, i % 2 == 0 ? "zone-a" : "zone-b"));
  zoned.Load(
      {Existing(zoned.service(), "foo-a", Managed(), Port(80), {mixed.begin(), mixed.begin() + 4}),
       Existing(zoned.service(), "foo-b", Managed(), Port(80), {mixed.begin() + 4, mixed.end()})});
  EndpointPtr moved = Modified(mixed[0], [&](v1::Endpoint& m) {
    m.set_node_name("node-2");  // touches foo-a; one in foo-b touched too
  });
  EndpointPtr other = Modified(mixed[5], [&](v1::Endpoint& m) { m.set_node_name("node-2"); });
  absl::StatusOr<Plan> plan = zoned.Reconcile({Upsert(moved, Port(80)), Upsert(other, Port(80))});
  ASSERT_OK(plan);
  zoned.Apply(*plan);
  for (const SlicePtr& s : zoned.Slices()) {
    for (const EndpointPtr& e : s->endpoints)
      EXPECT_EQ(e->zone(), s->endpoints[0]->zone()) << s->name;
  }
}

constexpr uint64_t kSeeds[] = {20261124, 7, 8};
// Steps per seed (each step reconciles twice): a few thousand in all, under ASan in CI too.
constexpr int kStepsPerSeed = 500;

struct Variant {
  const char* name;
  Options options;
};

class PackedChurnTest : public ::testing::TestWithParam<std::tuple<uint64_t, int>> {};

// At every step of a long random churn in packed mode (default budget, a generous one that makes
// the repack work hard, and same-zone packing), the slices hold exactly the desired endpoints
// within the limits, and the batch adds at most its budget of writes to Kubernetes' plan. (How
// much the repack moves depends on the services a seed draws: with max 1 there is nothing to
// pack; the generous runs of the first two seeds move 79 and 61 endpoints.)
TEST_P(PackedChurnTest, InvariantsAndBudget) {
  const auto [seed, variant] = GetParam();
  Options generous = Packed(100, /*writes_per_change=*/1, /*max_writes=*/8);
  generous.packing.fill_threshold = 1;  // pay whenever a slice can go
  Options zoned = Packed(100);
  zoned.packing.same_zone = true;
  const Variant variants[] = {{"default", Packed(100)}, {"generous", generous}, {"zoned", zoned}};
  const int steps = static_cast<int>(EnvNumber("SK_RECONCILE_STEPS").value_or(kStepsPerSeed));
  std::cout << "[ seed     ] " << seed << " " << variants[variant].name << " (" << steps
            << " steps)" << std::endl;
  RandomChurn churn(seed, ChurnCheck::kPackedBudget, variants[variant].options);
  churn.Run(steps);
  std::cout << "[ repack   ] moved " << churn.moved() << " endpoints, " << churn.extra_writes()
            << " extra writes" << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Seeds, PackedChurnTest,
                         ::testing::Combine(::testing::ValuesIn(kSeeds),
                                            ::testing::Values(0, 1, 2)));

}  // namespace
}  // namespace slicekeeper::reconcile
