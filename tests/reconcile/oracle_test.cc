// Validates the oracle itself against the scenarios of docs/kubernetes-behaviour.md §6 (counts and
// slice-size multisets), plus the identity / port-key / change-detection rules it is built on
// (§3.5).
#include "tests/reconcile/oracle.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/reconcile/test_util.h"

namespace slicekeeper::reconcile::oracle {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

std::vector<DesiredEndpoint> Desired(int n, const PortListPtr& ports) {
  std::vector<DesiredEndpoint> out;
  for (int i = 0; i < n; ++i) out.push_back({kAddressTypeIPv4, E(i), ports});
  return out;
}

Result RunOn(const v1::ServiceRecord& svc, std::vector<SlicePtr> existing,
             std::vector<DesiredEndpoint> desired, int max = 100) {
  Input in{.service = &svc,
           .existing = std::move(existing),
           .desired = std::move(desired),
           .max_endpoints_per_slice = max};
  return Run(in);
}

// S1: a service without endpoints gets one empty placeholder slice.
TEST(OracleTest, S1EmptyServiceCreatesPlaceholder) {
  v1::ServiceRecord svc = Foo();
  Result r = RunOn(svc, {}, {});
  ASSERT_EQ(r.creates.size(), 1u);
  EXPECT_THAT(r.updates, IsEmpty());
  EXPECT_THAT(r.deletes, IsEmpty());
  EXPECT_TRUE(r.creates[0]->ports->empty());
  EXPECT_TRUE(r.creates[0]->endpoints.empty());
  EXPECT_TRUE(absl::StartsWith(r.creates[0]->name, "foo-"));
  EXPECT_EQ(r.slices.size(), 1u);
}

// S4 (b): an existing slice equal to the placeholder is kept without any write.
TEST(OracleTest, S4ExistingPlaceholderIsKept) {
  v1::ServiceRecord svc = Foo();
  SlicePtr placeholder = Range(svc, "foo-abcde", 0, 0, NoPorts());
  Result r = RunOn(svc, {placeholder}, {});
  EXPECT_THAT(r.creates, IsEmpty());
  EXPECT_THAT(r.updates, IsEmpty());
  EXPECT_THAT(r.deletes, IsEmpty());
  EXPECT_THAT(r.slices, ElementsAre(placeholder));
}

// S4 (c): an empty slice with other labels and real ports is recycled into the placeholder.
TEST(OracleTest, S4WrongPlaceholderIsRecycled) {
  v1::ServiceRecord svc = Foo();
  auto odd = std::make_shared<Slice>(*Range(svc, "foo-abcde", 0, 0, Port(80)));
  auto meta = std::make_shared<v1::ObjectMeta>(*odd->meta);
  (*meta->mutable_labels())["extra"] = "x";
  odd->meta = meta;
  Result r = RunOn(svc, {odd}, {});
  EXPECT_THAT(r.creates, IsEmpty());
  ASSERT_EQ(r.updates.size(), 1u);
  EXPECT_THAT(r.deletes, IsEmpty());
  EXPECT_EQ(r.updates[0]->name, "foo-abcde");
  EXPECT_TRUE(r.updates[0]->ports->empty());
  EXPECT_EQ(r.updates[0]->generation, 2);
  EXPECT_EQ(r.slices.size(), 1u);
}

// S6: 250 new endpoints make three slices [100, 100, 50].
TEST(OracleTest, S6ManyEndpoints) {
  v1::ServiceRecord svc = Foo();
  Result r = RunOn(svc, {}, Desired(250, Port(80)));
  EXPECT_THAT(Sizes(r.creates), UnorderedElementsAre(100, 100, 50));
  EXPECT_THAT(r.updates, IsEmpty());
  EXPECT_THAT(r.deletes, IsEmpty());
}

// S7: a full slice is created, then the 27 leftovers best-fit into the 62-endpoint slice.
TEST(OracleTest, S7SomePreexisting) {
  v1::ServiceRecord svc = Foo();
  PortListPtr p = Port(80);
  Result r = RunOn(svc, {Range(svc, "a", 0, 62, p), Range(svc, "b", 62, 123, p)}, Desired(250, p));
  EXPECT_THAT(Sizes(r.creates), ElementsAre(100));
  ASSERT_EQ(r.updates.size(), 1u);
  EXPECT_EQ(r.updates[0]->name, "a");
  EXPECT_THAT(r.deletes, IsEmpty());
  EXPECT_THAT(Sizes(r.slices), UnorderedElementsAre(89, 61, 100));
}

// S8: 52 leftovers fit in neither 74-endpoint slice, so a second slice is created.
TEST(OracleTest, S8WorseAllocation) {
  v1::ServiceRecord svc = Foo();
  PortListPtr p = Port(80);
  Result r = RunOn(svc, {Range(svc, "a", 0, 74, p), Range(svc, "b", 74, 148, p)}, Desired(300, p));
  EXPECT_THAT(Sizes(r.creates), UnorderedElementsAre(100, 52));
  EXPECT_THAT(r.updates, IsEmpty());
  EXPECT_THAT(Sizes(r.slices), UnorderedElementsAre(74, 74, 100, 52));
}

// S15: five port sets give five slices of 60, each with its one port.
TEST(OracleTest, S15PortSets) {
  v1::ServiceRecord svc = Foo();
  std::vector<PortListPtr> ports;
  for (int k = 0; k < 5; ++k) ports.push_back(Port(8080 + k));
  std::vector<DesiredEndpoint> desired;
  for (int i = 0; i < 300; ++i) desired.push_back({kAddressTypeIPv4, E(i), ports[i % 5]});
  Result r = RunOn(svc, {}, desired);
  EXPECT_THAT(Sizes(r.creates), UnorderedElementsAre(60, 60, 60, 60, 60));
  std::vector<int> numbers;
  for (const SlicePtr& s : r.creates) {
    ASSERT_EQ(s->ports->size(), 1u);
    numbers.push_back((*s->ports)[0].port());
    for (const EndpointPtr& e : s->endpoints) {
      const int i = std::stoi(std::string(e->target_ref().name().substr(3)));
      EXPECT_EQ(8080 + i % 5, (*s->ports)[0].port());
    }
  }
  EXPECT_THAT(numbers, UnorderedElementsAre(8080, 8081, 8082, 8083, 8084));
}

// S16: slice sizes follow max-endpoints-per-slice.
TEST(OracleTest, S16MaxPerSlice) {
  v1::ServiceRecord svc = Foo();
  const std::vector<std::pair<int, std::vector<size_t>>> cases = {{50, {50, 50, 50, 50, 50}},
                                                                  {80, {80, 80, 80, 10}},
                                                                  {150, {150, 100}},
                                                                  {250, {250}},
                                                                  {500, {250}}};
  for (const auto& [max, sizes] : cases) {
    Result r = RunOn(svc, {}, Desired(250, Port(80)), max);
    EXPECT_THAT(Sizes(r.creates), UnorderedElementsAreArray(sizes)) << "max " << max;
  }
}

// S10: a new service label rewrites every slice; a reserved-only label change writes nothing.
TEST(OracleTest, S10ServiceLabels) {
  v1::ServiceRecord svc = Foo();
  Result first = RunOn(svc, {}, Desired(250, Port(80)));
  (*svc.mutable_labels())["foo"] = "bar";
  Result relabel = RunOn(svc, first.slices, Desired(250, Port(80)));
  EXPECT_EQ(relabel.updates.size(), 3u);
  EXPECT_TRUE(relabel.creates.empty() && relabel.deletes.empty());
  for (const SlicePtr& s : relabel.updates) EXPECT_EQ(s->meta->labels().at("foo"), "bar");
  (*svc.mutable_labels())[kLabelManagedBy] = "someone-else";
  Result reserved = RunOn(svc, relabel.slices, Desired(250, Port(80)));
  EXPECT_TRUE(reserved.creates.empty() && reserved.updates.empty() && reserved.deletes.empty());
}

// Running the oracle on its own result with the same desired set writes nothing.
TEST(OracleTest, IdempotentOnItsOwnResult) {
  v1::ServiceRecord svc = Foo();
  Result first = RunOn(svc, {}, Desired(437, Port(80)), 10);
  Result again = RunOn(svc, first.slices, Desired(437, Port(80)), 10);
  EXPECT_TRUE(again.creates.empty() && again.updates.empty() && again.deletes.empty());
  EXPECT_EQ(again.slices.size(), 44u);
}

// One changed condition, or one removal, rewrites exactly the slice holding the endpoint.
TEST(OracleTest, OneChangeUpdatesOneSlice) {
  v1::ServiceRecord svc = Foo();
  PortListPtr p = Port(80);
  Result first = RunOn(svc, {}, Desired(250, p));
  std::vector<DesiredEndpoint> flipped = Desired(250, p);
  EndpointPtr e7 = Modified(flipped[7].endpoint,
                            [&](v1::Endpoint& m) { m.mutable_conditions()->set_ready(false); });
  flipped[7].endpoint = e7;
  Result flip = RunOn(svc, first.slices, flipped);
  EXPECT_TRUE(flip.creates.empty() && flip.deletes.empty());
  ASSERT_EQ(flip.updates.size(), 1u);
  EXPECT_EQ(flip.endpoints_removed, 0);
  EXPECT_EQ(flip.endpoints_added, 0);
  EXPECT_THAT(Sizes(flip.slices), UnorderedElementsAre(100, 100, 50));

  Result removal = RunOn(svc, first.slices, Desired(249, p));
  EXPECT_TRUE(removal.creates.empty() && removal.deletes.empty());
  EXPECT_EQ(removal.updates.size(), 1u);
  EXPECT_EQ(removal.endpoints_removed, 1);
  EXPECT_EQ(removal.endpoints_added, 0);
}

// A port change over N slices becomes N full-replacement updates, never creates plus deletes.
TEST(OracleTest, PortChangeIsRecycled) {
  v1::ServiceRecord svc = Foo();
  Result first = RunOn(svc, {}, Desired(250, Port(80)));
  Result r = RunOn(svc, first.slices, Desired(250, Port(81)));
  EXPECT_TRUE(r.creates.empty() && r.deletes.empty());
  EXPECT_THAT(Sizes(r.updates), UnorderedElementsAre(100, 100, 50));
  for (const SlicePtr& s : r.updates) EXPECT_EQ((*s->ports)[0].port(), 81);
}

// A slice owned by another uid is deleted, never recycled (S14).
TEST(OracleTest, UnownedSliceIsDeletedNotRecycled) {
  v1::ServiceRecord svc = Foo();
  v1::ServiceRecord old = Foo();
  old.set_uid("uid-old");
  Result r = RunOn(svc, {Range(old, "foo-old", 0, 10, Port(80))}, Desired(10, Port(80)));
  EXPECT_EQ(r.creates.size(), 1u);
  EXPECT_TRUE(r.updates.empty());
  ASSERT_EQ(r.deletes.size(), 1u);
  EXPECT_EQ(r.deletes[0]->name, "foo-old");
}

// Identity ignores address order and non-identity fields; nil hostname equals "".
TEST(OracleTest, IdentityRules) {
  v1::Endpoint a;
  a.add_addresses("10.0.0.1");
  a.add_addresses("10.0.0.2");
  a.mutable_target_ref()->set_name("p");
  v1::Endpoint b = a;
  b.clear_addresses();
  b.add_addresses("10.0.0.2");
  b.add_addresses("10.0.0.1");
  b.set_zone("z");
  b.set_hostname("");
  EXPECT_EQ(Identity(*EndpointRecord::FromProto(a)), Identity(*EndpointRecord::FromProto(b)));
  b.set_hostname("h");
  EXPECT_NE(Identity(*EndpointRecord::FromProto(a)), Identity(*EndpointRecord::FromProto(b)));
  v1::Endpoint c = a;
  c.mutable_target_ref()->set_namespace_("other");
  EXPECT_NE(Identity(*EndpointRecord::FromProto(a)), Identity(*EndpointRecord::FromProto(c)));
}

// Port keys ignore order, treat nil and empty alike, and default name and protocol.
TEST(OracleTest, PortKeyRules) {
  PortList ab = {*Port(80, "a")->begin(), *Port(81, "b")->begin()};
  PortList ba = {ab[1], ab[0]};
  EXPECT_EQ(PortKey(ab), PortKey(ba));
  EXPECT_EQ(PortKey(PortList{}), "");
  v1::EndpointPort bare;
  bare.set_port(80);
  v1::EndpointPort defaulted = bare;
  defaulted.set_name("");
  defaulted.set_protocol("TCP");
  EXPECT_EQ(PortKey(PortList{bare}), PortKey(PortList{defaulted}));
  defaulted.set_protocol("UDP");
  EXPECT_NE(PortKey(PortList{bare}), PortKey(PortList{defaulted}));
}

// Change detection: nil vs value counts, resourceVersion and hints do not, uid does.
TEST(OracleTest, DiffersRules) {
  v1::Endpoint a = E(1)->ToProto();
  v1::Endpoint b = a;
  b.mutable_target_ref()->set_resource_version("42");
  b.mutable_hints()->add_for_zones()->set_name("z");
  EXPECT_FALSE(Differs(*EndpointRecord::FromProto(a), *EndpointRecord::FromProto(b)));
  b.mutable_target_ref()->set_uid("new");
  EXPECT_TRUE(Differs(*EndpointRecord::FromProto(a), *EndpointRecord::FromProto(b)));
  b = a;
  b.mutable_conditions()->clear_ready();
  EXPECT_TRUE(Differs(*EndpointRecord::FromProto(a), *EndpointRecord::FromProto(b)));
  b = a;
  b.mutable_conditions()->set_serving(true);
  EXPECT_TRUE(Differs(*EndpointRecord::FromProto(a), *EndpointRecord::FromProto(b)));
  b = a;
  b.set_zone("");
  EXPECT_TRUE(Differs(*EndpointRecord::FromProto(a), *EndpointRecord::FromProto(b)));
}

}  // namespace
}  // namespace slicekeeper::reconcile::oracle
