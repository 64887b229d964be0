// The scenarios of docs/kubernetes-behaviour.md §6 run against the real incremental reconciler
// (reconciler.h): exact create / update / delete counts after recycling, slice-size multisets,
// names, labels, ports, addresses and hints, and that re-sending the desired state after Apply
// writes nothing. oracle_test.cc checks the same table against the oracle; random_test.cc compares
// the two.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/reconcile/reconciler.h"
#include "tests/reconcile/test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::reconcile {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

constexpr char kTopologyMode[] = "service.kubernetes.io/topology-mode";

// What every slice the server writes looks like (§3.7): a generated `foo-xxxxx` name in the
// service's namespace, exactly `labels`, one controller ownerReference to the service, the
// trigger-time annotation, and no endpoint above max.
void ExpectWellFormed(const Slice& s, const Labels& labels, const std::string& address_type) {
  SCOPED_TRACE(s.name);
  EXPECT_THAT(s.name, MatchesRegex("foo-[a-z0-9]{5}"));
  EXPECT_EQ(s.namespace_, "test");
  EXPECT_EQ(s.address_type, address_type);
  EXPECT_EQ(s.meta->generate_name(), "foo-");
  Labels got;
  for (const auto& [k, v] : s.meta->labels()) got.emplace(k, v);
  EXPECT_EQ(got, labels);
  ASSERT_EQ(s.meta->owner_references_size(), 1);
  const v1::OwnerReference& o = s.meta->owner_references(0);
  EXPECT_EQ(o.api_version(), "v1");
  EXPECT_EQ(o.kind(), "Service");
  EXPECT_EQ(o.name(), "foo");
  EXPECT_EQ(o.uid(), "uid-foo");
  EXPECT_TRUE(o.controller());
  EXPECT_TRUE(o.block_owner_deletion());
  ASSERT_EQ(s.meta->annotations().count(kAnnotationTriggerTime), 1u);
  EXPECT_EQ(s.meta->annotations().at(kAnnotationTriggerTime), kTriggerTime);
  EXPECT_TRUE(s.Managed());
}

// Each slice has exactly the one port foo/TCP/`number` and no endpoint carries hints.
void ExpectPortAndNoHints(const std::vector<SlicePtr>& slices, int number) {
  for (const SlicePtr& s : slices) {
    ASSERT_THAT(*s->ports, SizeIs(1)) << s->name;
    EXPECT_EQ((*s->ports)[0].name(), "foo");
    EXPECT_EQ((*s->ports)[0].protocol(), "TCP");
    EXPECT_EQ((*s->ports)[0].port(), number);
    for (const EndpointPtr& e : s->endpoints) EXPECT_FALSE(e->has_hints()) << s->name;
  }
}

// After Apply, re-sending the desired state, an empty batch, or either as a full resync, plans
// nothing.
void ExpectIdempotent(Harness& h, const std::vector<EndpointDelta>& desired) {
  for (bool full : {false, true}) {
    for (bool resend : {false, true}) {
      SCOPED_TRACE(absl::StrCat("full_resync=", full, " resend=", resend));
      absl::StatusOr<Plan> plan =
          h.Reconcile(resend ? desired : std::vector<EndpointDelta>{}, full);
      ASSERT_OK(plan);
      EXPECT_TRUE(plan->empty()) << Describe(*plan);
    }
  }
}

// S1: no endpoints, no slices: one placeholder (no ports, no endpoints, foo- name, managed labels).
TEST(ScenariosTest, S1EmptyServiceCreatesPlaceholder) {
  Harness h(Foo());
  absl::StatusOr<Plan> plan = h.Reconcile({});
  ASSERT_OK(plan);
  const Ops ops = Split(*plan);
  ASSERT_THAT(ops.creates, SizeIs(1)) << Describe(*plan);
  EXPECT_THAT(ops.updates, IsEmpty());
  EXPECT_THAT(ops.deletes, IsEmpty());
  const Slice& s = *ops.creates[0];
  ExpectWellFormed(s, Managed(), kAddressTypeIPv4);
  EXPECT_EQ(s.generation, 1);
  EXPECT_THAT(*s.ports, IsEmpty());
  EXPECT_THAT(s.endpoints, IsEmpty());
  EXPECT_THAT(h.prefixes(), ElementsAre("foo-"));
  EXPECT_EQ(plan->desired_slices, 1);
  EXPECT_EQ(plan->num_slices, 1);
  EXPECT_EQ(plan->endpoints_desired, 0);
  h.Apply(*plan);
  EXPECT_THAT(Names(h.Slices()), ElementsAre(s.name));
  ExpectIdempotent(h, {});
}

// S2's backend: one pod with 1.2.3.4 and 1234::5678:0000:0000:9abc:def0 in us-central1-a, one
// change per family, addresses normalized as common/validation.h does before the reconciler.
std::vector<EndpointDelta> S2Backend() {
  std::vector<EndpointDelta> out;
  for (const auto& [type, text] : {std::pair<std::string, std::string>{kAddressTypeIPv4, "1.2.3.4"},
                                   {kAddressTypeIPv6, "1234::5678:0000:0000:9abc:def0"}}) {
    // A copy, not the binding: clang 14 cannot capture a structured binding.
    const std::string address = validation::CanonicalIp(type, text).value_or(text);
    EndpointPtr e =
        Modified(E(0, "us-central1-a"), [&](v1::Endpoint& m) { m.set_addresses(0, address); });
    out.push_back(Upsert(std::move(e), Port(80), type));
  }
  return out;
}

// S2: the backend lands in one new slice per served family, with that family's canonical address.
void RunS2(const std::vector<std::string>& types) {
  const std::map<std::string, std::string> want = {{kAddressTypeIPv4, "1.2.3.4"},
                                                   {kAddressTypeIPv6, "1234::5678:0:0:9abc:def0"}};
  Harness h(Foo(types));
  absl::StatusOr<Plan> plan = h.Reconcile(S2Backend());
  ASSERT_OK(plan);
  const Ops ops = Split(*plan);
  ASSERT_THAT(ops.creates, SizeIs(types.size())) << Describe(*plan);
  EXPECT_THAT(ops.updates, IsEmpty());
  EXPECT_THAT(ops.deletes, IsEmpty());
  std::vector<std::string> got_types;
  for (const SlicePtr& s : ops.creates) {
    got_types.push_back(s->address_type);
    ExpectWellFormed(*s, Managed(), s->address_type);
    ASSERT_THAT(s->endpoints, SizeIs(1));
    const EndpointRecord& e = *s->endpoints[0];
    EXPECT_THAT(e.addresses(), ElementsAre(want.at(s->address_type)));
    EXPECT_EQ(e.zone(), "us-central1-a");
    EXPECT_EQ(e.node_name(), "node-1");
    EXPECT_EQ(e.target_ref().name(), "pod0");
  }
  ExpectPortAndNoHints(ops.creates, 80);
  EXPECT_THAT(got_types, UnorderedElementsAreArray(types));
  EXPECT_EQ(plan->endpoints_desired, static_cast<int64_t>(types.size()));
  h.Apply(*plan);
  EXPECT_THAT(h.Slices(), SizeIs(types.size()));
  ExpectIdempotent(h, S2Backend());
}

// S2, IPv4 service: one slice holding 1.2.3.4; the IPv6 change is not served.
TEST(ScenariosTest, S2IPv4Service) { RunS2({kAddressTypeIPv4}); }

// S2, IPv6 service: one slice holding the canonical 1234::5678:0:0:9abc:def0.
TEST(ScenariosTest, S2IPv6Service) { RunS2({kAddressTypeIPv6}); }

// S2, dual-stack service: two slices, one per family.
TEST(ScenariosTest, S2DualStackService) { RunS2({kAddressTypeIPv4, kAddressTypeIPv6}); }

// S3: service labels are copied onto slices, but reserved keys given by the service are ignored.
TEST(ScenariosTest, S3ServiceLabelsReservedKeysIgnored) {
  Harness h(Foo());
  auto& labels = *h.service().mutable_labels();
  labels["foo"] = "bar";
  labels[kLabelServiceName] = "wrong";
  labels[kLabelManagedBy] = "someone-else";
  labels[kLabelHeadless] = "";
  const std::vector<EndpointDelta> desired = Upserts(0, 1, Port(80));
  absl::StatusOr<Plan> plan = h.Reconcile(desired);
  ASSERT_OK(plan);
  const Ops ops = Split(*plan);
  ASSERT_THAT(ops.creates, SizeIs(1)) << Describe(*plan);
  EXPECT_THAT(ops.updates, IsEmpty());
  EXPECT_THAT(ops.deletes, IsEmpty());
  ExpectWellFormed(*ops.creates[0], Managed({{"foo", "bar"}}), kAddressTypeIPv4);
  h.Apply(*plan);
  ExpectIdempotent(h, desired);
}

// S4 (a): no endpoints and no slice: one placeholder is created.
TEST(ScenariosTest, S4aNoSliceCreatesPlaceholder) {
  Harness h(Foo());
  h.Load({});
  absl::StatusOr<Plan> plan = h.Reconcile({}, /*full_resync=*/true);
  ASSERT_OK(plan);
  const Ops ops = Split(*plan);
  ASSERT_THAT(ops.creates, SizeIs(1)) << Describe(*plan);
  EXPECT_THAT(ops.updates, IsEmpty());
  EXPECT_THAT(ops.deletes, IsEmpty());
  EXPECT_THAT(*ops.creates[0]->ports, IsEmpty());
  EXPECT_THAT(ops.creates[0]->endpoints, IsEmpty());
  h.Apply(*plan);
  EXPECT_THAT(h.Slices(), SizeIs(1));
  ExpectIdempotent(h, {});
}

// S4 (b): a stored slice equal to the placeholder is kept: no write at all.
TEST(ScenariosTest, S4bExistingPlaceholderIsKept) {
  Harness h(Foo());
  const SlicePtr placeholder = Existing(h.service(), "foo-abcde", Managed(), NoPorts(), {});
  h.Load({placeholder});
  for (bool full : {false, true}) {
    absl::StatusOr<Plan> plan = h.Reconcile({}, full);
    ASSERT_OK(plan);
    EXPECT_TRUE(plan->empty()) << "full_resync=" << full << Describe(*plan);
    EXPECT_EQ(plan->num_slices, 1);
  }
  EXPECT_THAT(h.Slices(), ElementsAre(placeholder));
}

// S4 (c): an empty slice with other labels and real ports is recycled (1 U), never D + C.
TEST(ScenariosTest, S4cWrongPlaceholderIsRecycled) {
  Harness h(Foo());
  h.Load({Existing(h.service(), "foo-abcde", Managed({{"extra", "x"}}), Port(80), {})});
  absl::StatusOr<Plan> plan = h.Reconcile({}, /*full_resync=*/true);
  ASSERT_OK(plan);
  const Ops ops = Split(*plan);
  EXPECT_THAT(ops.creates, IsEmpty()) << Describe(*plan);
  EXPECT_THAT(ops.deletes, IsEmpty());
  ASSERT_THAT(ops.updates, SizeIs(1));
  const Slice& s = *ops.updates[0];
  EXPECT_EQ(s.name, "foo-abcde");
  EXPECT_EQ(s.generation, 2);
  ExpectWellFormed(s, Managed(), kAddressTypeIPv4);
  EXPECT_THAT(*s.ports, IsEmpty());
  EXPECT_THAT(s.endpoints, IsEmpty());
  EXPECT_EQ(plan->num_slices, 1);
  h.Apply(*plan);
  EXPECT_THAT(Names(h.Slices()), ElementsAre("foo-abcde"));
  ExpectIdempotent(h, {});
}

// S6: 250 new endpoints make three new slices [100, 100, 50] holding each endpoint once.
TEST(ScenariosTest, S6ManyEndpoints) {
  Harness h(Foo());
  const std::vector<EndpointDelta> desired = Upserts(0, 250, Port(80));
  absl::StatusOr<Plan> plan = h.Reconcile(desired);
  ASSERT_OK(plan);
  const Ops ops = Split(*plan);
  EXPECT_THAT(Sizes(ops.creates), UnorderedElementsAre(100, 100, 50)) << Describe(*plan);
  EXPECT_THAT(ops.updates, IsEmpty());
  EXPECT_THAT(ops.deletes, IsEmpty());
  for (const SlicePtr& s : ops.creates) ExpectWellFormed(*s, Managed(), kAddressTypeIPv4);
  ExpectPortAndNoHints(ops.creates, 80);
  EXPECT_THAT(AllAddresses(ops.creates), UnorderedElementsAreArray(Addresses(0, 250)));
  EXPECT_EQ(plan->stats.endpoints_added, 250);
  EXPECT_EQ(plan->desired_slices, 3);
  h.Apply(*plan);
  EXPECT_EQ(h.Slices().size(), 3u);
  ExpectIdempotent(h, desired);
}

// The one slice `plan` updates; null, with a failure, when it fails or updates another number.
SlicePtr OnlyUpdate(const absl::StatusOr<Plan>& plan) {
  if (!plan.ok()) {
    ADD_FAILURE() << plan.status();
    return nullptr;
  }
  const Ops ops = Split(*plan);
  if (ops.updates.size() != 1) {
    ADD_FAILURE() << "want one update:" << Describe(*plan);
    return nullptr;
  }
  return ops.updates[0];
}

// A slice rewritten for one changed endpoint shares with its previous version every run of
// endpoints the change left whole (common/endpoint_list.h): the cost of a rewrite does not grow
// with the slice. 100 endpoints are six runs of 16 and one of 4; a flip of e(50) breaks the run
// 48..63 only (EndpointList::Patch): the short last run is shared too.
TEST(ScenariosTest, RewriteSharesTheRunsItKeeps) {
  Harness h(Foo());
  absl::StatusOr<Plan> load = h.Reconcile(Upserts(0, 100, Port(80)));
  ASSERT_OK(load);
  h.Apply(*load);
  ASSERT_THAT(h.Slices(), SizeIs(1));
  const SlicePtr before = h.Slices()[0];
  const EndpointPtr flipped =
      Modified(E(50), [](v1::Endpoint& e) { e.mutable_conditions()->set_ready(false); });
  const SlicePtr updated = OnlyUpdate(h.Reconcile({Upsert(flipped, Port(80))}));
  ASSERT_NE(updated, nullptr);
  const Slice& after = *updated;
  ASSERT_EQ(after.endpoints.size(), 100u);
  for (size_t i = 0; i < 100; ++i) {
    if (i == 50) {
      EXPECT_FALSE(after.endpoints[i]->conditions().ready());
    } else {
      EXPECT_EQ(after.endpoints[i].get(), before->endpoints[i].get()) << i;
    }
  }
  int shared = 0;
  for (size_t i = 0; i < after.endpoints.run_count(); ++i) {
    for (size_t j = 0; j < before->endpoints.run_count(); ++j) {
      shared += after.endpoints.SharesRun(i, before->endpoints, j) ? 1 : 0;
    }
  }
  EXPECT_EQ(shared, 6);
  EXPECT_EQ(after.endpoints.run_count(), 7u);
}

// S7: A=62, B=61 stored, 250 desired: 1 C of 100, last 27 best-fit into A (1 U); [89, 61, 100].
TEST(ScenariosTest, S7SomePreexisting) {
  // The batch holds only the new endpoints, or every desired one: the plan is the same.
  for (int first : {123, 0}) {
    SCOPED_TRACE(absl::StrCat("batch e(", first, ")..e(249)"));
    Harness h(Foo());
    h.Load({Range(h.service(), "foo-aaaaa", 0, 62), Range(h.service(), "foo-bbbbb", 62, 123)});
    absl::StatusOr<Plan> plan = h.Reconcile(Upserts(first, 250, Port(80)));
    ASSERT_OK(plan);
    const Ops ops = Split(*plan);
    EXPECT_THAT(Sizes(ops.creates), ElementsAre(100)) << Describe(*plan);
    ASSERT_THAT(ops.updates, SizeIs(1));
    EXPECT_THAT(ops.deletes, IsEmpty());
    EXPECT_EQ(ops.updates[0]->name, "foo-aaaaa");
    EXPECT_EQ(ops.updates[0]->endpoints.size(), 89u);
    EXPECT_EQ(ops.updates[0]->generation, 2);
    for (const SlicePtr& s : ops.creates) ExpectWellFormed(*s, Managed(), kAddressTypeIPv4);
    ExpectWellFormed(*ops.updates[0], Managed(), kAddressTypeIPv4);
    ExpectPortAndNoHints(ops.creates, 80);
    ExpectPortAndNoHints(ops.updates, 80);
    h.Apply(*plan);
    const std::vector<SlicePtr> after = h.Slices();
    EXPECT_THAT(Sizes(after), UnorderedElementsAre(89, 61, 100));
    EXPECT_THAT(AllAddresses(after), UnorderedElementsAreArray(Addresses(0, 250)));
    ExpectIdempotent(h, Upserts(0, 250, Port(80)));
  }
}

// S8: A=74, B=74 stored, 300 desired: C 100, then 52 fit neither: C 52, 0 U; [74, 74, 100, 52].
TEST(ScenariosTest, S8WorseAllocation) {
  // The batch holds only the new endpoints, or every desired one: the plan is the same.
  for (int first : {148, 0}) {
    SCOPED_TRACE(absl::StrCat("batch e(", first, ")..e(299)"));
    Harness h(Foo());
    h.Load({Range(h.service(), "foo-aaaaa", 0, 74), Range(h.service(), "foo-bbbbb", 74, 148)});
    absl::StatusOr<Plan> plan = h.Reconcile(Upserts(first, 300, Port(80)));
    ASSERT_OK(plan);
    const Ops ops = Split(*plan);
    EXPECT_THAT(Sizes(ops.creates), UnorderedElementsAre(100, 52)) << Describe(*plan);
    EXPECT_THAT(ops.updates, IsEmpty());
    EXPECT_THAT(ops.deletes, IsEmpty());
    for (const SlicePtr& s : ops.creates) ExpectWellFormed(*s, Managed(), kAddressTypeIPv4);
    ExpectPortAndNoHints(ops.creates, 80);
    EXPECT_EQ(plan->num_slices, 4);
    EXPECT_EQ(plan->desired_slices, 3);
    h.Apply(*plan);
    const std::vector<SlicePtr> after = h.Slices();
    EXPECT_THAT(Sizes(after), UnorderedElementsAre(74, 74, 100, 52));
    EXPECT_THAT(AllAddresses(after), UnorderedElementsAreArray(Addresses(0, 300)));
    ExpectIdempotent(h, Upserts(0, 300, Port(80)));
  }
}

// S10: a new service label updates all 3 slices; a reserved-only label change writes nothing.
TEST(ScenariosTest, S10ServiceLabels) {
  Harness h(Foo());
  h.Load({Range(h.service(), "foo-aaaaa", 0, 100), Range(h.service(), "foo-bbbbb", 100, 200),
          Range(h.service(), "foo-ccccc", 200, 250)});
  (*h.service().mutable_labels())["foo"] = "bar";
  absl::StatusOr<Plan> relabel = h.Reconcile({}, /*full_resync=*/true);
  ASSERT_OK(relabel);
  const Ops ops = Split(*relabel);
  EXPECT_THAT(ops.creates, IsEmpty()) << Describe(*relabel);
  EXPECT_THAT(ops.deletes, IsEmpty());
  EXPECT_THAT(Names(ops.updates), UnorderedElementsAre("foo-aaaaa", "foo-bbbbb", "foo-ccccc"));
  EXPECT_THAT(Sizes(ops.updates), UnorderedElementsAre(100, 100, 50));
  for (const SlicePtr& s : ops.updates) {
    ExpectWellFormed(*s, Managed({{"foo", "bar"}}), kAddressTypeIPv4);
    EXPECT_EQ(s->generation, 2);
  }
  ExpectPortAndNoHints(ops.updates, 80);
  h.Apply(*relabel);

  (*h.service().mutable_labels())[kLabelManagedBy] = "someone-else";
  (*h.service().mutable_labels())[kLabelServiceName] = "bar";
  absl::StatusOr<Plan> reserved = h.Reconcile({}, /*full_resync=*/true);
  ASSERT_OK(reserved);
  EXPECT_TRUE(reserved->empty()) << Describe(*reserved);
  ExpectIdempotent(h, Upserts(0, 250, Port(80)));
}

// S15: e(i) serving port 8080 + i % 5 gives five slices of 60, each with its one port.
TEST(ScenariosTest, S15PortSets) {
  Harness h(Foo());
  std::vector<PortListPtr> ports;
  for (int k = 0; k < 5; ++k) ports.push_back(Port(8080 + k));
  std::vector<EndpointDelta> desired;
  for (int i = 0; i < 300; ++i) desired.push_back(Upsert(E(i), ports[i % 5]));
  absl::StatusOr<Plan> plan = h.Reconcile(desired);
  ASSERT_OK(plan);
  const Ops ops = Split(*plan);
  EXPECT_THAT(Sizes(ops.creates), UnorderedElementsAre(60, 60, 60, 60, 60)) << Describe(*plan);
  EXPECT_THAT(ops.updates, IsEmpty());
  EXPECT_THAT(ops.deletes, IsEmpty());
  std::vector<int> numbers;
  for (const SlicePtr& s : ops.creates) {
    ExpectWellFormed(*s, Managed(), kAddressTypeIPv4);
    ASSERT_THAT(*s->ports, SizeIs(1));
    const int port = (*s->ports)[0].port();
    numbers.push_back(port);
    ExpectPortAndNoHints({s}, port);
    for (const EndpointPtr& e : s->endpoints) {
      const int i = std::stoi(std::string(e->target_ref().name().substr(3)));
      EXPECT_EQ(8080 + i % 5, port) << e->addresses(0);
    }
  }
  EXPECT_THAT(numbers, UnorderedElementsAre(8080, 8081, 8082, 8083, 8084));
  EXPECT_THAT(AllAddresses(ops.creates), UnorderedElementsAreArray(Addresses(0, 300)));
  EXPECT_EQ(plan->desired_slices, 5);
  h.Apply(*plan);
  ExpectIdempotent(h, desired);
}

// S16: slice sizes follow max-endpoints-per-slice for 250 endpoints.
TEST(ScenariosTest, S16MaxPerSlice) {
  const std::vector<std::pair<int, std::vector<size_t>>> cases = {{50, {50, 50, 50, 50, 50}},
                                                                  {80, {80, 80, 80, 10}},
                                                                  {150, {150, 100}},
                                                                  {250, {250}},
                                                                  {500, {250}}};
  for (const auto& [max, sizes] : cases) {
    SCOPED_TRACE(absl::StrCat("max ", max));
    Harness h(Foo(), max);
    const std::vector<EndpointDelta> desired = Upserts(0, 250, Port(80));
    absl::StatusOr<Plan> plan = h.Reconcile(desired);
    ASSERT_OK(plan);
    const Ops ops = Split(*plan);
    EXPECT_THAT(Sizes(ops.creates), UnorderedElementsAreArray(sizes)) << Describe(*plan);
    EXPECT_THAT(ops.updates, IsEmpty());
    EXPECT_THAT(ops.deletes, IsEmpty());
    for (const SlicePtr& s : ops.creates) ExpectWellFormed(*s, Managed(), kAddressTypeIPv4);
    ExpectPortAndNoHints(ops.creates, 80);
    EXPECT_THAT(AllAddresses(ops.creates), UnorderedElementsAreArray(Addresses(0, 250)));
    EXPECT_EQ(plan->desired_slices, static_cast<int64_t>(sizes.size()));
    h.Apply(*plan);
    ExpectIdempotent(h, desired);
  }
}

// S20: headless, no ports: 1 C with ports []; re-sent with another empty port list: 0 writes.
TEST(ScenariosTest, S20HeadlessNoPorts) {
  Harness h(Foo());
  h.service().set_headless(true);
  absl::StatusOr<Plan> plan = h.Reconcile({Upsert(E(0), NoPorts())});
  ASSERT_OK(plan);
  const Ops ops = Split(*plan);
  ASSERT_THAT(ops.creates, SizeIs(1)) << Describe(*plan);
  EXPECT_THAT(ops.updates, IsEmpty());
  EXPECT_THAT(ops.deletes, IsEmpty());
  const Slice& s = *ops.creates[0];
  ExpectWellFormed(s, Managed({{kLabelHeadless, ""}}), kAddressTypeIPv4);
  EXPECT_THAT(*s.ports, IsEmpty());
  ASSERT_THAT(s.endpoints, SizeIs(1));
  EXPECT_THAT(s.endpoints[0]->addresses(), ElementsAre("1.2.3.4"));
  h.Apply(*plan);
  ExpectIdempotent(h, {Upsert(E(0), NoPorts())});
}

// T2: Auto, 3 equal zones, 3 zone-c endpoints in one slice: 1 U hinting one endpoint per zone.
TEST(ScenariosTest, T2AutoHintsSpreadSingleZone) {
  for (bool full : {true, false}) {
    SCOPED_TRACE(absl::StrCat("full_resync=", full));
    Harness h(Foo());
    (*h.service().mutable_annotations())[kTopologyMode] = "Auto";
    h.set_nodes(EqualNodes({"zone-a", "zone-b", "zone-c"}, 10));
    h.Load({Existing(h.service(), "foo-abcde", Managed(), Port(80),
                     {E(0, "zone-c"), E(1, "zone-c"), E(2, "zone-c")})});
    absl::StatusOr<Plan> plan = h.Reconcile({}, full);
    ASSERT_OK(plan);
    const Ops ops = Split(*plan);
    EXPECT_THAT(ops.creates, IsEmpty()) << Describe(*plan);
    EXPECT_THAT(ops.deletes, IsEmpty());
    ASSERT_THAT(ops.updates, SizeIs(1));
    const Slice& s = *ops.updates[0];
    EXPECT_EQ(s.name, "foo-abcde");
    ExpectWellFormed(s, Managed(), kAddressTypeIPv4);
    std::map<std::string, int> by_zone;
    int away = 0;
    for (const EndpointPtr& e : s.endpoints) {
      ASSERT_THAT(ZoneHints(*e), SizeIs(1)) << e->addresses(0);
      EXPECT_EQ(e->hints().for_nodes_size(), 0);
      EXPECT_EQ(e->zone(), "zone-c");
      ++by_zone[ZoneHints(*e)[0]];
      if (ZoneHints(*e)[0] != e->zone()) ++away;
    }
    EXPECT_THAT(by_zone, ElementsAre(Pair("zone-a", 1), Pair("zone-b", 1), Pair("zone-c", 1)));
    EXPECT_EQ(away, 2);
    EXPECT_THAT(AllAddresses({ops.updates[0]}), UnorderedElementsAreArray(Addresses(0, 3)));
    ASSERT_THAT(plan->syncs, SizeIs(1));
    EXPECT_EQ(plan->syncs[0].topology, "Auto");
    EXPECT_THAT(plan->syncs[0].events, IsEmpty());
    h.Apply(*plan);
    ExpectIdempotent(h, {Upsert(E(0, "zone-c"), Port(80)), Upsert(E(1, "zone-c"), Port(80)),
                         Upsert(E(2, "zone-c"), Port(80))});
  }
}

// T3: Auto, 4 endpoints (2 in zone-a, 2 in zone-c) for 3 zones: no hints, 0 writes, an event.
TEST(ScenariosTest, T3AutoHintsTooFewEndpoints) {
  for (bool full : {true, false}) {
    SCOPED_TRACE(absl::StrCat("full_resync=", full));
    Harness h(Foo());
    (*h.service().mutable_annotations())[kTopologyMode] = "Auto";
    h.set_nodes(EqualNodes({"zone-a", "zone-b", "zone-c"}, 10));
    const std::vector<EndpointPtr> endpoints = {E(0, "zone-a"), E(1, "zone-a"), E(2, "zone-c"),
                                                E(3, "zone-c")};
    const SlicePtr stored = Existing(h.service(), "foo-abcde", Managed(), Port(80), endpoints);
    h.Load({stored});
    absl::StatusOr<Plan> plan = h.Reconcile({}, full);
    ASSERT_OK(plan);
    EXPECT_TRUE(plan->empty()) << Describe(*plan);
    ASSERT_THAT(plan->syncs, SizeIs(1));
    ASSERT_THAT(plan->syncs[0].events, SizeIs(1));
    EXPECT_THAT(plan->syncs[0].events[0],
                ::testing::HasSubstr("TopologyAwareHintsDisabled: Unable to allocate minimum"));
    EXPECT_THAT(h.Slices(), ElementsAre(stored));
    std::vector<EndpointDelta> desired;
    for (const EndpointPtr& e : endpoints) desired.push_back(Upsert(e, Port(80)));
    ExpectIdempotent(h, desired);
  }
}

// D1: PreferClose hints each ready endpoint (a x1, b x3, c x2) for its own zone only.
TEST(ScenariosTest, D1PreferCloseHintsOwnZone) {
  Harness h(Foo());
  h.service().set_traffic_distribution("PreferClose");
  const std::vector<std::string> zones = {"zone-a", "zone-b", "zone-b",
                                          "zone-b", "zone-c", "zone-c"};
  std::vector<EndpointDelta> desired;
  for (int i = 0; i < 6; ++i) desired.push_back(Upsert(E(i, zones[i]), Port(80)));
  absl::StatusOr<Plan> plan = h.Reconcile(desired);
  ASSERT_OK(plan);
  const Ops ops = Split(*plan);
  ASSERT_THAT(ops.creates, SizeIs(1)) << Describe(*plan);
  EXPECT_THAT(ops.updates, IsEmpty());
  EXPECT_THAT(ops.deletes, IsEmpty());
  ExpectWellFormed(*ops.creates[0], Managed(), kAddressTypeIPv4);
  ASSERT_THAT(ops.creates[0]->endpoints, SizeIs(6));
  for (const EndpointPtr& e : ops.creates[0]->endpoints) {
    EXPECT_THAT(ZoneHints(*e), ElementsAre(e->zone())) << e->addresses(0);
    EXPECT_EQ(e->hints().for_nodes_size(), 0);
  }
  EXPECT_THAT(AllAddresses(ops.creates), UnorderedElementsAreArray(Addresses(0, 6)));
  ASSERT_THAT(plan->syncs, SizeIs(1));
  EXPECT_EQ(plan->syncs[0].traffic_distribution, "PreferClose");
  h.Apply(*plan);
  ExpectIdempotent(h, desired);
}

// D2: an incremental rewrite of a PreferClose slice (the sparse form, planner.h) hints exactly the
// endpoints it writes, a replacement made ready again and an added one, and leaves every other
// endpoint the same object; without a traffic distribution, hints a writer sent are stripped.
TEST(ScenariosTest, D2IncrementalRewriteHintsTheEndpointsItWrites) {
  const std::vector<std::string> zones = {"zone-a", "zone-b", "zone-c"};
  for (const bool prefer_close : {true, false}) {
    SCOPED_TRACE(prefer_close ? "PreferClose" : "no traffic distribution");
    Harness h(Foo());
    if (prefer_close) h.service().set_traffic_distribution("PreferClose");
    std::vector<EndpointDelta> desired;
    for (int i = 0; i < 99; ++i) desired.push_back(Upsert(E(i, zones[i % 3]), Port(80)));
    absl::StatusOr<Plan> load = h.Reconcile(desired);
    ASSERT_OK(load);
    h.Apply(*load);
    ASSERT_THAT(h.Slices(), SizeIs(1));
    const EndpointPtr unready = Modified(
        E(30, "zone-a"), [](v1::Endpoint& e) { e.mutable_conditions()->set_ready(false); });
    absl::StatusOr<Plan> first = h.Reconcile({Upsert(unready, Port(80))});
    ASSERT_OK(first);
    h.Apply(*first);
    const SlicePtr before = h.Slices()[0];
    // E(30) ready again, sent with a hint for another zone; E(99) added.
    const EndpointPtr ready = Modified(E(30, "zone-a"), [](v1::Endpoint& e) {
      e.mutable_hints()->add_for_zones()->set_name("zone-c");
    });
    desired[30] = Upsert(ready, Port(80));
    desired.push_back(Upsert(E(99, "zone-a"), Port(80)));
    absl::StatusOr<Plan> plan = h.Reconcile({desired[30], desired.back()});
    const SlicePtr updated = OnlyUpdate(plan);
    ASSERT_NE(updated, nullptr);
    const Slice& after = *updated;
    ASSERT_EQ(after.endpoints.size(), 100u);
    for (size_t i = 0; i < 100; ++i) {
      const EndpointRecord& e = *after.endpoints[i];
      if (i == 30 || i == 99) {
        EXPECT_TRUE(e.conditions().ready()) << i;
        if (prefer_close) {
          EXPECT_THAT(ZoneHints(e), ElementsAre("zone-a")) << i;
        } else {
          EXPECT_FALSE(e.has_hints()) << i;
        }
      } else {
        EXPECT_EQ(&e, before->endpoints[i].get()) << i;
      }
    }
    h.Apply(*plan);
    ExpectIdempotent(h, desired);
  }
}

}  // namespace
}  // namespace slicekeeper::reconcile
