// Topology hints (docs/kubernetes-behaviour.md §4): mode selection, node info, the allocation
// table, the Auto allocator (T2, T3) and the trafficDistribution heuristic (D1).
#include "server/reconcile/topology.h"

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace slicekeeper::reconcile {
namespace {

using ::slicekeeper::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;

v1::Node MakeNode(const std::string& name, const std::string& zone, int64_t cpu,
                  bool ready = true) {
  v1::Node n;
  n.set_name(name);
  n.set_zone(zone);
  n.set_cpu_millis(cpu);
  n.set_ready(ready);
  return n;
}

// `per_zone` ready nodes of 1000m in each of `zones`.
std::vector<v1::Node> EqualNodes(const std::vector<std::string>& zones, int per_zone) {
  std::vector<v1::Node> nodes;
  for (const auto& zone : zones) {
    for (int i = 0; i < per_zone; ++i) {
      nodes.push_back(MakeNode(zone + "-node-" + std::to_string(i), zone, 1000));
    }
  }
  return nodes;
}

NodeInfo ThreeEqualZones() {
  return ComputeNodeInfo(EqualNodes({"zone-a", "zone-b", "zone-c"}, 10));
}

EndpointPtr MakeEndpoint(int i, const std::string& zone, bool ready = true,
                         const std::string& node = "node-1") {
  v1::Endpoint e;
  e.add_addresses("1.2.3." + std::to_string(4 + i));
  e.mutable_conditions()->set_ready(ready);
  if (!zone.empty()) e.set_zone(zone);
  e.set_node_name(node);
  return EndpointRecord::FromProto(e);
}

EndpointPtr WithZoneHint(const EndpointPtr& ep, const std::string& zone) {
  v1::EndpointHints hints = ep->hints();
  hints.add_for_zones()->set_name(zone);
  return ep->WithHints(&hints);
}

std::vector<std::string> ZoneHints(const EndpointRecord& e) {
  std::vector<std::string> out;
  for (const auto& z : e.hints().for_zones()) out.push_back(z.name());
  return out;
}

// forZones name -> count over ready endpoints of the given lists.
std::map<std::string, int> CountZoneHints(const std::vector<const std::vector<EndpointPtr>*>& ls) {
  std::map<std::string, int> out;
  for (const auto* list : ls) {
    for (const auto& ep : *list) {
      for (const auto& z : ep->hints().for_zones()) ++out[z.name()];
    }
  }
  return out;
}

// Minimum/maximum of one zone, or (-1, -1) when allocation fails.
std::pair<int, int> AllocFor(const NodeInfo& info, int n, const std::string& zone) {
  auto a = GetAllocations(info, n);
  if (!a.ok()) return {-1, -1};
  return {a->at(zone).min, a->at(zone).max};
}

// The deprecated annotation wins over topology-mode, which wins over the field, whichever value.
TEST(HintModeForTest, AnnotationPrecedence) {
  v1::ServiceRecord s;
  s.set_topology_mode("Auto");
  EXPECT_EQ(HintModeFor(s), HintMode::kAuto);
  (*s.mutable_annotations())["service.kubernetes.io/topology-mode"] = "Disabled";
  EXPECT_EQ(HintModeFor(s), HintMode::kNone);
  (*s.mutable_annotations())["service.kubernetes.io/topology-aware-hints"] = "auto";
  EXPECT_EQ(HintModeFor(s), HintMode::kAuto);
  (*s.mutable_annotations())["service.kubernetes.io/topology-aware-hints"] = "AUTO";
  (*s.mutable_annotations())["service.kubernetes.io/topology-mode"] = "Auto";
  EXPECT_EQ(HintModeFor(s), HintMode::kNone);
}

// trafficDistribution applies only when no Auto source is on; Auto beats it.
TEST(HintModeForTest, TrafficDistribution) {
  v1::ServiceRecord s;
  EXPECT_EQ(HintModeFor(s), HintMode::kNone);
  s.set_traffic_distribution("PreferClose");
  EXPECT_EQ(HintModeFor(s), HintMode::kPreferSameZone);
  s.set_traffic_distribution("PreferSameZone");
  EXPECT_EQ(HintModeFor(s), HintMode::kPreferSameZone);
  s.set_traffic_distribution("PreferSameNode");
  EXPECT_EQ(HintModeFor(s), HintMode::kPreferSameNode);
  EXPECT_STREQ(TopologyLabel(HintModeFor(s)), "Disabled");
  s.set_traffic_distribution("Bogus");
  EXPECT_EQ(HintModeFor(s), HintMode::kNone);
  s.set_traffic_distribution("PreferSameNode");
  (*s.mutable_annotations())["service.kubernetes.io/topology-mode"] = "Auto";
  EXPECT_EQ(HintModeFor(s), HintMode::kAuto);
  EXPECT_STREQ(TopologyLabel(HintModeFor(s)), "Auto");
}

// Ratios are CPU shares of ready non-control-plane nodes; excluded nodes may lack a zone.
TEST(ComputeNodeInfoTest, RatiosIgnoreControlPlaneAndUnready) {
  std::vector<v1::Node> nodes = {MakeNode("a1", "a", 3000), MakeNode("b1", "b", 1000),
                                 MakeNode("b2", "b", 9000, /*ready=*/false), MakeNode("cp", "", 0),
                                 MakeNode("m", "c", 5000)};
  (*nodes[3].mutable_labels())["node-role.kubernetes.io/control-plane"] = "";
  (*nodes[4].mutable_labels())["node-role.kubernetes.io/master"] = "true";
  NodeInfo info = ComputeNodeInfo(nodes);
  EXPECT_EQ(info.insufficient_reason, "");
  EXPECT_THAT(info.zone_ratios, ElementsAre(Pair("a", 0.75), Pair("b", 0.25)));
}

// A zoneless or CPU-less node, no nodes, or a single zone make the information insufficient.
TEST(ComputeNodeInfoTest, InsufficientReasons) {
  const std::string kInsufficient =
      "Insufficient Node information: allocatable CPU or zone not specified on one or more nodes";
  NodeInfo no_zone = ComputeNodeInfo(
      {MakeNode("a", "a", 1000), MakeNode("x", "", 1000), MakeNode("b", "b", 1000)});
  EXPECT_THAT(no_zone.zone_ratios, IsEmpty());
  EXPECT_EQ(no_zone.insufficient_reason, kInsufficient);
  NodeInfo no_cpu = ComputeNodeInfo({MakeNode("a", "a", 1000), MakeNode("b", "b", 0)});
  EXPECT_EQ(no_cpu.insufficient_reason, kInsufficient);
  EXPECT_EQ(ComputeNodeInfo({}).insufficient_reason, kInsufficient);
  NodeInfo one_zone = ComputeNodeInfo({MakeNode("a", "a", 1000), MakeNode("a2", "a", 500)});
  EXPECT_THAT(one_zone.zone_ratios, IsEmpty());
  EXPECT_EQ(one_zone.insufficient_reason, "Nodes only ready in one zone");
  EXPECT_THAT(GetAllocations(one_zone, 10),
              StatusIs(absl::StatusCode::kFailedPrecondition, "Nodes only ready in one zone"));
  EXPECT_THAT(GetAllocations(NodeInfo{}, 10),
              StatusIs(absl::StatusCode::kFailedPrecondition, kInsufficient));
}

// The worked table of §4.3 for three equal zones, failures included (non-monotonic in N).
TEST(GetAllocationsTest, ThreeEqualZonesTable) {
  const NodeInfo info = ThreeEqualZones();
  const std::vector<std::tuple<int, int, int>> table = {
      {2, -1, -1}, {3, 1, 1},   {4, -1, -1}, {5, -1, -1}, {6, 2, 2},
      {7, 2, 3},   {8, -1, -1}, {9, 3, 3},   {10, 3, 4},  {11, -1, -1},
      {12, 4, 4},  {13, 4, 5},  {14, 4, 6},  {15, 5, 5},  {18, 5, 8}};
  for (const auto& [n, min, max] : table) {
    for (const std::string zone : {"zone-a", "zone-b", "zone-c"}) {
      EXPECT_EQ(AllocFor(info, n, zone), std::make_pair(min, max)) << "N=" << n << " " << zone;
    }
  }
}

// Failures carry Kubernetes' texts with the endpoint and zone counts.
TEST(GetAllocationsTest, FailureMessages) {
  const NodeInfo info = ThreeEqualZones();
  EXPECT_THAT(GetAllocations(info, 2),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "Insufficient number of endpoints (2 endpoints, 3 zones)"));
  EXPECT_THAT(GetAllocations(info, 4),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("Unable to allocate minimum required endpoints to each zone "
                                 "without exceeding overload threshold")));
}

// Two equal zones: 2 ok, 3 fail, 4 ok, 5 fail, 6 ok, 7 ok.
TEST(GetAllocationsTest, TwoEqualZones) {
  const NodeInfo info = ComputeNodeInfo(EqualNodes({"a", "b"}, 2));
  EXPECT_EQ(AllocFor(info, 2, "a"), std::make_pair(1, 1));
  EXPECT_EQ(AllocFor(info, 3, "a"), std::make_pair(-1, -1));
  EXPECT_EQ(AllocFor(info, 4, "a"), std::make_pair(2, 2));
  EXPECT_EQ(AllocFor(info, 5, "a"), std::make_pair(-1, -1));
  EXPECT_EQ(AllocFor(info, 6, "b"), std::make_pair(3, 3));
  EXPECT_EQ(AllocFor(info, 7, "b"), std::make_pair(3, 4));
}

// The KEP's 40/32/28 example: N=10 gives minimums 4/3/3; N=3 and N=5 fail.
TEST(GetAllocationsTest, KepRatios) {
  const NodeInfo info = ComputeNodeInfo(
      {MakeNode("a", "a", 4000), MakeNode("b", "b", 3200), MakeNode("c", "c", 2800)});
  EXPECT_EQ(AllocFor(info, 10, "a"), std::make_pair(4, 4));
  EXPECT_EQ(AllocFor(info, 10, "b"), std::make_pair(3, 3));
  EXPECT_EQ(AllocFor(info, 10, "c"), std::make_pair(3, 3));
  EXPECT_FALSE(GetAllocations(info, 3).ok());
  EXPECT_FALSE(GetAllocations(info, 5).ok());
}

// T2: three zone-c endpoints in one unchanged slice are spread one per zone via an update.
TEST(AddAutoHintsTest, T2SpreadsSingleZoneEndpoints) {
  const EndpointList slice = {MakeEndpoint(0, "zone-c"), MakeEndpoint(1, "zone-c"),
                              MakeEndpoint(2, "zone-c")};
  SliceInfo si{{}, {}, {&slice}};
  HintsResult r = AddAutoHints(ThreeEqualZones(), si);
  EXPECT_THAT(r.events, IsEmpty());
  ASSERT_THAT(r.unchanged_to_update, SizeIs(1));
  EXPECT_EQ(r.unchanged_to_update[0].first, 0u);
  EXPECT_THAT(CountZoneHints({&r.unchanged_to_update[0].second}),
              ElementsAre(Pair("zone-a", 1), Pair("zone-b", 1), Pair("zone-c", 1)));
  EXPECT_THAT(r.hints_by_zone,
              ElementsAre(Pair("zone-a", 1), Pair("zone-b", 1), Pair("zone-c", 1)));
  EXPECT_FALSE(slice[0]->has_hints());  // the input slice is not modified
}

// T3: four endpoints for three zones cannot be allocated: no hints, no writes, one event.
TEST(AddAutoHintsTest, T3TooFewEndpointsWritesNothing) {
  const EndpointList slice = {MakeEndpoint(0, "zone-a"), MakeEndpoint(1, "zone-a"),
                              MakeEndpoint(2, "zone-c"), MakeEndpoint(3, "zone-c")};
  SliceInfo si{{}, {}, {&slice}};
  HintsResult r = AddAutoHints(ThreeEqualZones(), si);
  EXPECT_THAT(r.unchanged_to_update, IsEmpty());
  EXPECT_THAT(r.hints_by_zone, IsEmpty());
  ASSERT_THAT(r.events, SizeIs(1));
  EXPECT_THAT(r.events[0], HasSubstr("TopologyAwareHintsDisabled: Unable to allocate minimum"));
}

// An unchanged slice whose hints are valid and within the maxima is left alone and counted.
TEST(AddAutoHintsTest, ValidHintsStayUnchanged) {
  const EndpointList slice = {WithZoneHint(MakeEndpoint(0, "zone-a"), "zone-a"),
                              WithZoneHint(MakeEndpoint(1, "zone-b"), "zone-b"),
                              WithZoneHint(MakeEndpoint(2, "zone-c"), "zone-c"),
                              MakeEndpoint(3, "zone-c", /*ready=*/false)};
  SliceInfo si{{}, {}, {&slice}};
  HintsResult r = AddAutoHints(ThreeEqualZones(), si);
  EXPECT_THAT(r.unchanged_to_update, IsEmpty());
  EXPECT_THAT(r.events, IsEmpty());
  EXPECT_THAT(r.hints_by_zone,
              ElementsAre(Pair("zone-a", 1), Pair("zone-b", 1), Pair("zone-c", 1)));
}

// Kept hints count toward the maxima: a new endpoint is hinted around the kept ones.
TEST(AddAutoHintsTest, NewEndpointsBalanceAroundKeptHints) {
  // N=6: min=max=2 per zone. Kept: a:2, b:2. New: two zone-a endpoints -> one must go to zone-c.
  const EndpointList kept = {WithZoneHint(MakeEndpoint(0, "zone-a"), "zone-a"),
                             WithZoneHint(MakeEndpoint(1, "zone-a"), "zone-a"),
                             WithZoneHint(MakeEndpoint(2, "zone-b"), "zone-b"),
                             WithZoneHint(MakeEndpoint(3, "zone-b"), "zone-b")};
  std::vector<EndpointPtr> created = {MakeEndpoint(4, "zone-a"), MakeEndpoint(5, "zone-a")};
  SliceInfo si{{&created}, {}, {&kept}};
  HintsResult r = AddAutoHints(ThreeEqualZones(), si);
  EXPECT_THAT(r.unchanged_to_update, IsEmpty());
  EXPECT_THAT(CountZoneHints({&created}), ElementsAre(Pair("zone-c", 2)));
  EXPECT_THAT(r.hints_by_zone,
              ElementsAre(Pair("zone-a", 2), Pair("zone-b", 2), Pair("zone-c", 2)));
}

// A hint for a zone without allocation, or a missing hint, moves the unchanged slice to update.
TEST(AddAutoHintsTest, InvalidKeptHintsMoveToUpdate) {
  const EndpointList stale = {WithZoneHint(MakeEndpoint(0, "zone-a"), "zone-x"),
                              WithZoneHint(MakeEndpoint(1, "zone-b"), "zone-b")};
  const EndpointList good = {WithZoneHint(MakeEndpoint(2, "zone-c"), "zone-c")};
  SliceInfo si{{}, {}, {&stale, &good}};
  HintsResult r = AddAutoHints(ThreeEqualZones(), si);
  ASSERT_THAT(r.unchanged_to_update, SizeIs(1));
  EXPECT_EQ(r.unchanged_to_update[0].first, 0u);
  EXPECT_THAT(ZoneHints(*r.unchanged_to_update[0].second[0]), ElementsAre("zone-a"));
  EXPECT_EQ(r.unchanged_to_update[0].second[1], stale[1]);  // already right: shared
}

// Kept hints may not push a zone over its maximum: two zone-a hints when max is 1 are rewritten.
TEST(AddAutoHintsTest, KeptHintsOverMaximumMoveToUpdate) {
  const EndpointList over = {WithZoneHint(MakeEndpoint(0, "zone-a"), "zone-a"),
                             WithZoneHint(MakeEndpoint(1, "zone-a"), "zone-a")};
  const EndpointList other = {WithZoneHint(MakeEndpoint(2, "zone-b"), "zone-b")};
  SliceInfo si{{}, {}, {&over, &other}};
  HintsResult r = AddAutoHints(ThreeEqualZones(), si);  // N=3: (1, 1) per zone
  ASSERT_THAT(r.unchanged_to_update, SizeIs(1));
  EXPECT_EQ(r.unchanged_to_update[0].first, 0u);
  EXPECT_THAT(CountZoneHints({&r.unchanged_to_update[0].second}),
              ElementsAre(Pair("zone-a", 1), Pair("zone-c", 1)));
}

// A ready endpoint without a zone removes every hint, unhinting hinted unchanged slices.
TEST(AddAutoHintsTest, MissingZoneRemovesAllHints) {
  const EndpointList hinted = {WithZoneHint(MakeEndpoint(0, "zone-a"), "zone-a"),
                               WithZoneHint(MakeEndpoint(1, "zone-b"), "zone-b"),
                               WithZoneHint(MakeEndpoint(2, "zone-c"), "zone-c")};
  // N=6 allocates (2, 2) per zone, so the kept hints are valid until the zoneless endpoint.
  std::vector<EndpointPtr> updated = {MakeEndpoint(3, ""), MakeEndpoint(4, "zone-a"),
                                      MakeEndpoint(5, "zone-b")};
  SliceInfo si{{}, {&updated}, {&hinted}};
  HintsResult r = AddAutoHints(ThreeEqualZones(), si);
  EXPECT_THAT(r.events, ElementsAre("TopologyAwareHintsDisabled: One or more endpoints do not "
                                    "have a zone specified"));
  EXPECT_THAT(r.hints_by_zone, IsEmpty());
  EXPECT_THAT(CountZoneHints({&updated}), IsEmpty());
  ASSERT_THAT(r.unchanged_to_update, SizeIs(1));
  EXPECT_THAT(CountZoneHints({&r.unchanged_to_update[0].second}), IsEmpty());
}

// Insufficient node information disables hints with the node-info event.
TEST(AddAutoHintsTest, NoNodeInfoDisables) {
  std::vector<EndpointPtr> created = {WithZoneHint(MakeEndpoint(0, "zone-a"), "zone-a")};
  SliceInfo si{{&created}, {}, {}};
  HintsResult r = AddAutoHints(NodeInfo{}, si);
  EXPECT_THAT(r.events, ElementsAre(HasSubstr("TopologyAwareHintsDisabled: Insufficient Node")));
  EXPECT_FALSE(created[0]->has_hints());
}

// Unready endpoints do not count toward N (3 ready + 1 unready is N=3, which allocates) and lose
// stale hints in slices being written.
TEST(AddAutoHintsTest, UnreadyEndpointsNotCounted) {
  std::vector<EndpointPtr> created = {MakeEndpoint(0, "zone-a"), MakeEndpoint(1, "zone-b"),
                                      MakeEndpoint(2, "zone-c"),
                                      WithZoneHint(MakeEndpoint(3, "zone-c", false), "zone-a")};
  SliceInfo si{{&created}, {}, {}};
  HintsResult r = AddAutoHints(ThreeEqualZones(), si);
  EXPECT_THAT(r.events, IsEmpty());
  EXPECT_THAT(ZoneHints(*created[2]), ElementsAre("zone-c"));
  EXPECT_FALSE(created[3]->has_hints());
}

// D1: with PreferClose every ready endpoint is hinted for its own zone, whatever the balance.
TEST(TrafficDistributionTest, D1PreferCloseHintsOwnZone) {
  std::vector<EndpointPtr> created = {MakeEndpoint(0, "zone-a"), MakeEndpoint(1, "zone-b"),
                                      MakeEndpoint(2, "zone-b"), MakeEndpoint(3, "zone-b"),
                                      MakeEndpoint(4, "zone-c"), MakeEndpoint(5, "zone-c")};
  SliceInfo si{{&created}, {}, {}};
  HintsResult r = AddTrafficDistributionHints(HintMode::kPreferSameZone, si);
  EXPECT_THAT(r.events, IsEmpty());
  for (const auto& ep : created) {
    EXPECT_THAT(ZoneHints(*ep), ElementsAre(ep->zone()));
    EXPECT_EQ(ep->hints().for_nodes_size(), 0);
  }
}

// PreferSameNode adds forNodes=[own node]; unready endpoints keep their (absent) hints.
TEST(TrafficDistributionTest, PreferSameNodeAddsNodeHints) {
  std::vector<EndpointPtr> updated = {MakeEndpoint(0, "zone-a", true, "n1"),
                                      MakeEndpoint(1, "zone-b", false, "n2")};
  const EndpointPtr unready = updated[1];
  SliceInfo si{{}, {&updated}, {}};
  AddTrafficDistributionHints(HintMode::kPreferSameNode, si);
  EXPECT_THAT(ZoneHints(*updated[0]), ElementsAre("zone-a"));
  ASSERT_EQ(updated[0]->hints().for_nodes_size(), 1);
  EXPECT_EQ(updated[0]->hints().for_nodes(0).name(), "n1");
  EXPECT_EQ(updated[1], unready);
}

// Unchanged slices move to update only when a ready endpoint's hints are missing or wrong.
TEST(TrafficDistributionTest, UnchangedOnlyWhenHintsWrong) {
  const EndpointPtr unready = WithZoneHint(MakeEndpoint(9, "zone-a", false), "zone-z");
  const EndpointList right = {WithZoneHint(MakeEndpoint(0, "zone-a"), "zone-a"), unready};
  const EndpointList wrong = {WithZoneHint(MakeEndpoint(1, "zone-b"), "zone-a")};
  SliceInfo si{{}, {}, {&right, &wrong}};
  HintsResult r = AddTrafficDistributionHints(HintMode::kPreferSameZone, si);
  ASSERT_THAT(r.unchanged_to_update, SizeIs(1));
  EXPECT_EQ(r.unchanged_to_update[0].first, 1u);
  EXPECT_THAT(ZoneHints(*r.unchanged_to_update[0].second[0]), ElementsAre("zone-b"));
  // PreferSameNode then needs node hints on the first slice too.
  HintsResult node = AddTrafficDistributionHints(HintMode::kPreferSameNode, si);
  EXPECT_THAT(node.unchanged_to_update, SizeIs(2));
}

// RemoveHints strips create/update lists and moves only hinted unchanged slices to update.
TEST(RemoveHintsTest, StripsAndMovesHintedUnchanged) {
  std::vector<EndpointPtr> created = {WithZoneHint(MakeEndpoint(0, "zone-a"), "zone-a")};
  const EndpointList plain = {MakeEndpoint(1, "zone-a")};
  const EndpointList hinted = {MakeEndpoint(2, "zone-a"),
                               WithZoneHint(MakeEndpoint(3, "zone-b"), "zone-b")};
  SliceInfo si{{&created}, {}, {&plain, &hinted}};
  HintsResult r = RemoveHints(si);
  EXPECT_FALSE(created[0]->has_hints());
  ASSERT_THAT(r.unchanged_to_update, SizeIs(1));
  EXPECT_EQ(r.unchanged_to_update[0].first, 1u);
  EXPECT_EQ(r.unchanged_to_update[0].second[0], hinted[0]);  // untouched endpoint stays shared
  EXPECT_FALSE(r.unchanged_to_update[0].second[1]->has_hints());
  EXPECT_THAT(r.events, IsEmpty());
}

}  // namespace
}  // namespace slicekeeper::reconcile
