#include "server/query/filter.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/query/snapshot_builder.h"
#include "tests/test_util.h"

namespace slicekeeper::query {
namespace {

using ::slicekeeper::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using namespace ::slicekeeper::query::testing;  // NOLINT: test builders

// --- QueryEndpoints filters -------------------------------------------------------------------

// address_type keeps one family.
TEST(QueryTest, AddressTypeFilter) {
  auto snap = Snap({{.name = "a", .endpoints = {E("10.0.0.1")}},
                    {.name = "b", .endpoints = {E("fd00::1")}, .address_type = kAddressTypeIPv6}});
  v1::QueryEndpointsRequest req;
  EXPECT_THAT(Query(snap, req), ElementsAre("10.0.0.1", "fd00::1"));
  req.set_address_type("IPv6");
  EXPECT_THAT(Query(snap, req), ElementsAre("fd00::1"));
}

// port_name keeps endpoints serving that port name, with only that port.
TEST(QueryTest, PortNameFilter) {
  auto snap = Snap({{.name = "a",
                     .endpoints = {E("10.0.0.1")},
                     .ports = {Port("http", 80), Port("grpc", 90), Port("", 70)}},
                    {.name = "b", .endpoints = {E("10.0.0.2")}, .ports = {Port("http", 81)}}});
  v1::QueryEndpointsRequest req;
  req.set_port_name("grpc");
  auto r = QueryEndpoints(snap, req);
  ASSERT_OK(r);
  ASSERT_THAT(Addresses(*r), ElementsAre("10.0.0.1"));
  ASSERT_EQ((*r)[0].ports_size(), 1);
  EXPECT_EQ((*r)[0].ports(0).port(), 90);
  req.set_port_name("");
  EXPECT_THAT(Query(snap, req), ElementsAre("10.0.0.1"));
  req.set_port_name("http");
  EXPECT_THAT(Query(snap, req), ElementsAre("10.0.0.1", "10.0.0.2"));
}

// node and zone (exact) keep endpoints on that node / in that zone.
TEST(QueryTest, NodeAndExactZoneFilters) {
  auto snap =
      Snap({{.name = "a",
             .endpoints = {E("10.0.0.1").Node("n1").Zone("z1"), E("10.0.0.2").Node("n2").Zone("z1"),
                           E("10.0.0.3").Node("n3").Zone("z2")}}});
  v1::QueryEndpointsRequest req;
  req.set_node("n2");
  EXPECT_THAT(Query(snap, req), ElementsAre("10.0.0.2"));
  req.clear_node();
  req.set_zone("z1");
  EXPECT_THAT(Query(snap, req), ElementsAre("10.0.0.1", "10.0.0.2"));
  req.set_zone("z9");
  EXPECT_THAT(Query(snap, req), IsEmpty());
}

// prefer_zone returns the zone's endpoints, or every zone's when the zone has none that pass the
// condition filter.
TEST(QueryTest, PreferZoneFallsBackToAllZones) {
  auto snap = Snap({{.name = "a",
                     .endpoints = {E("10.0.0.1").Zone("z1"), E("10.0.0.2").Zone("z2").Ready(false),
                                   E("10.0.0.3").Zone("z3")}}});
  v1::QueryEndpointsRequest req;
  req.set_prefer_zone(true);
  req.set_zone("z1");
  EXPECT_THAT(Query(snap, req), ElementsAre("10.0.0.1"));
  req.set_zone("z2");  // only a not-ready endpoint there
  EXPECT_THAT(Query(snap, req), ElementsAre("10.0.0.1", "10.0.0.3"));
  req.set_condition(v1::ANY);
  EXPECT_THAT(Query(snap, req), ElementsAre("10.0.0.2"));
}

// READY, SERVING and ANY select by the nil-defaulted conditions.
TEST(QueryTest, ConditionFilters) {
  auto snap = Snap({{.name = "a",
                     .endpoints = {E("10.0.0.1"), E("10.0.0.2").Term(),
                                   E("10.0.0.3").Ready(false).Serving(false)}}});
  v1::QueryEndpointsRequest req;
  req.set_condition(v1::READY);
  EXPECT_THAT(Query(snap, req), ElementsAre("10.0.0.1"));
  req.set_condition(v1::SERVING);
  EXPECT_THAT(Query(snap, req), ElementsAre("10.0.0.1", "10.0.0.2"));
  req.set_condition(v1::ANY);
  EXPECT_THAT(Query(snap, req), ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3"));
}

// ROUTABLE (and UNSPECIFIED) uses ready endpoints, else serving && terminating ones, else none.
TEST(QueryTest, RoutableFallsBackToServingTerminating) {
  v1::QueryEndpointsRequest req;
  for (auto cond : {v1::ROUTABLE, v1::ENDPOINT_CONDITION_UNSPECIFIED}) {
    req.set_condition(cond);
    auto with_ready = Snap({{.name = "a", .endpoints = {E("10.0.0.1"), E("10.0.0.2").Term()}}});
    EXPECT_THAT(Query(with_ready, req), ElementsAre("10.0.0.1"));
    auto ready_gone =
        Snap({{.name = "a",
               .endpoints = {E("10.0.0.2").Term(), E("10.0.0.3").Ready(false),
                             E("10.0.0.4").Ready(false).Serving(false).Terminating(true)}}});
    EXPECT_THAT(Query(ready_gone, req), ElementsAre("10.0.0.2"));
    auto none = Snap({{.name = "a", .endpoints = {E("10.0.0.3").Ready(false)}}});
    EXPECT_THAT(Query(none, req), IsEmpty());
  }
}

// limit returns the first endpoints by address; 0 means all.
TEST(QueryTest, Limit) {
  auto snap = Snap({{.name = "a", .endpoints = {E("10.0.0.3"), E("10.0.0.1"), E("10.0.0.2")}}});
  v1::QueryEndpointsRequest req;
  req.set_limit(2);
  EXPECT_THAT(Query(snap, req), ElementsAre("10.0.0.1", "10.0.0.2"));
  req.set_limit(0);
  EXPECT_EQ(Query(snap, req).size(), 3u);
}

// Bad combinations are INVALID_ARGUMENT naming the field.
TEST(QueryTest, InvalidCombinationsNameTheField) {
  auto snap = Snap({});
  auto check = [&](auto mutate, const char* field) {
    v1::QueryEndpointsRequest req;
    mutate(req);
    EXPECT_THAT(QueryEndpoints(snap, req),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(field)));
  };
  check([](auto& r) { r.set_limit(-1); }, "limit");
  check([](auto& r) { r.set_prefer_zone(true); }, "prefer_zone");
  check([](auto& r) { r.set_use_hints(true); }, "use_hints");
  check(
      [](auto& r) {
        r.set_use_hints(true);
        r.set_zone("z");
        r.set_condition(v1::READY);
      },
      "use_hints");
  check(
      [](auto& r) {
        r.set_use_hints(true);
        r.set_zone("z");
        r.set_prefer_zone(true);
      },
      "prefer_zone");
  check([](auto& r) { r.set_address_type("FQDN"); }, "address_type");
  check([](auto& r) { r.set_condition(static_cast<v1::EndpointCondition>(99)); }, "condition");
}

// --- Hints (docs/kubernetes-behaviour.md §5.2)
// ---------------------------------------------------------------

v1::QueryEndpointsRequest HintRequest(const std::string& zone, const std::string& node = "") {
  v1::QueryEndpointsRequest req;
  req.set_use_hints(true);
  req.set_zone(zone);
  req.set_node(node);
  return req;
}

// With every ready endpoint zone-hinted, only those hinted for the client's zone are used.
TEST(HintsTest, PreferSameZoneWhenEveryReadyEndpointHinted) {
  auto snap = Snap(
      {{.name = "a",
        .endpoints = {E("10.0.0.1").ZoneHint("z1"), E("10.0.0.2").ZoneHint("z2"),
                      E("10.0.0.3").ZoneHint("z1").ZoneHint("z2"), E("10.0.0.4").Ready(false)}}});
  EXPECT_THAT(Query(snap, HintRequest("z1")), ElementsAre("10.0.0.1", "10.0.0.3"));
  EXPECT_THAT(Query(snap, HintRequest("z2")), ElementsAre("10.0.0.2", "10.0.0.3"));
  // No endpoint is hinted for z3: no topology filtering.
  EXPECT_THAT(Query(snap, HintRequest("z3")), ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3"));
}

// One ready endpoint without a hint makes every hint ignored.
TEST(HintsTest, OneReadyEndpointWithoutHintDisablesHints) {
  auto snap = Snap(
      {{.name = "a",
        .endpoints = {E("10.0.0.1").ZoneHint("z1"), E("10.0.0.2").ZoneHint("z2"), E("10.0.0.3")}}});
  EXPECT_THAT(Query(snap, HintRequest("z1")), ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3"));
}

// A not-ready endpoint without a hint does not disable hints.
TEST(HintsTest, UnhintedNotReadyEndpointDoesNotMatter) {
  auto snap = Snap({{.name = "a",
                     .endpoints = {E("10.0.0.1").ZoneHint("z1"), E("10.0.0.2").ZoneHint("z2"),
                                   E("10.0.0.3").Term()}}});
  EXPECT_THAT(Query(snap, HintRequest("z1")), ElementsAre("10.0.0.1"));
}

// Node hints win over zone hints when every ready endpoint has one and one targets the node.
TEST(HintsTest, PreferSameNodeThenZone) {
  auto snap = Snap({{.name = "a",
                     .endpoints = {E("10.0.0.1").NodeHint("n1").ZoneHint("z1"),
                                   E("10.0.0.2").NodeHint("n2").ZoneHint("z1"),
                                   E("10.0.0.3").NodeHint("n3").ZoneHint("z2")}}});
  EXPECT_THAT(Query(snap, HintRequest("z1", "n2")), ElementsAre("10.0.0.2"));
  // No endpoint hinted for n9: falls to the zone rule.
  EXPECT_THAT(Query(snap, HintRequest("z1", "n9")), ElementsAre("10.0.0.1", "10.0.0.2"));
  // Node only, not hinted: no filtering.
  EXPECT_THAT(Query(snap, HintRequest("", "n9")), ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3"));
  // One ready endpoint lacks a node hint: node hints ignored, zone hints still apply.
  auto partial = Snap(
      {{.name = "a",
        .endpoints = {E("10.0.0.1").NodeHint("n1").ZoneHint("z1"), E("10.0.0.2").ZoneHint("z2")}}});
  EXPECT_THAT(Query(partial, HintRequest("z2", "n1")), ElementsAre("10.0.0.2"));
}

// With no ready endpoint, serving && terminating endpoints from anywhere are used.
TEST(HintsTest, FallsBackToServingTerminatingAnywhere) {
  auto snap =
      Snap({{.name = "a",
             .endpoints = {E("10.0.0.1").Term().ZoneHint("z1"), E("10.0.0.2").Term().ZoneHint("z2"),
                           E("10.0.0.3").Ready(false).Serving(false)}}});
  EXPECT_THAT(Query(snap, HintRequest("z1")), ElementsAre("10.0.0.1", "10.0.0.2"));
}

}  // namespace
}  // namespace slicekeeper::query
