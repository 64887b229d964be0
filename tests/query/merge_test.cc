#include "server/query/merge.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/query/snapshot_builder.h"
#include "tests/test_util.h"

namespace slicekeeper::query {
namespace {

using ::testing::ElementsAre;

using namespace ::slicekeeper::query::testing;  // NOLINT: test builders

// --- MergeEndpoints ---------------------------------------------------------------------------

// Nil conditions read as ready, serving, not terminating, and all three are set in the output.
TEST(MergeTest, NilConditionsAreDefaultedAndSet) {
  auto merged = MergeEndpoints(Snap({{.name = "a", .endpoints = {E("10.0.0.1")}}}));
  ASSERT_EQ(merged.size(), 1u);
  const v1::EndpointConditions& c = merged[0].conditions();
  EXPECT_TRUE(c.has_ready() && c.has_serving() && c.has_terminating());
  EXPECT_TRUE(c.ready());
  EXPECT_TRUE(c.serving());
  EXPECT_FALSE(c.terminating());
  EXPECT_EQ(merged[0].address_type(), "IPv4");
}

// Only addresses[0] is used, and an endpoint without addresses is skipped.
TEST(MergeTest, UsesFirstAddressOnly) {
  v1::Endpoint no_address;
  auto merged = MergeEndpoints(
      Snap({{.name = "a", .endpoints = {E("10.0.0.9").Addr("10.0.0.1"), no_address}}}));
  EXPECT_THAT(Addresses(merged), ElementsAre("10.0.0.9"));
}

// A terminating duplicate loses to a non-terminating one whichever slice comes first.
TEST(MergeTest, TerminatingLosesToNonTerminatingAcrossSlices) {
  for (bool terminating_first : {true, false}) {
    v1::Endpoint term = E("10.0.0.1").Term().Node("old");
    v1::Endpoint live = E("10.0.0.1").Node("new");
    auto merged =
        MergeEndpoints(Snap({{.name = "a", .endpoints = {terminating_first ? term : live}},
                             {.name = "b", .endpoints = {terminating_first ? live : term}}}));
    ASSERT_EQ(merged.size(), 1u);
    EXPECT_EQ(merged[0].node_name(), "new") << terminating_first;
    EXPECT_TRUE(merged[0].conditions().ready());
    EXPECT_FALSE(merged[0].conditions().terminating());
  }
}

// Of two non-terminating duplicates the later slice (by name) wins.
TEST(MergeTest, LaterNonTerminatingDuplicateReplaces) {
  auto merged = MergeEndpoints(Snap({{.name = "a", .endpoints = {E("10.0.0.1").Zone("z1")}},
                                     {.name = "b", .endpoints = {E("10.0.0.1").Zone("z2")}}}));
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].zone(), "z2");
}

// The replacement rule holds per port: a terminating entry does not overwrite a port's number.
TEST(MergeTest, TerminatingDoesNotReplacePort) {
  auto merged = MergeEndpoints(
      Snap({{.name = "a", .endpoints = {E("10.0.0.1")}, .ports = {Port("http", 80)}},
            {.name = "b", .endpoints = {E("10.0.0.1").Term()}, .ports = {Port("http", 81)}}}));
  ASSERT_EQ(merged.size(), 1u);
  ASSERT_EQ(merged[0].ports_size(), 1);
  EXPECT_EQ(merged[0].ports(0).port(), 80);
}

// Ports with nil or 0 numbers are dropped, but the endpoint is still listed.
TEST(MergeTest, PortsWithNilOrZeroNumberSkippedEndpointKept) {
  auto merged = MergeEndpoints(
      Snap({{.name = "a",
             .endpoints = {E("10.0.0.1")},
             .ports = {Port("none", std::nullopt), Port("zero", 0), Port("http", 8080)}},
            {.name = "b", .endpoints = {E("10.0.0.2")}, .ports = {Port("zero", 0)}},
            {.name = "c", .endpoints = {E("10.0.0.3")}, .ports = {}}}));
  ASSERT_THAT(Addresses(merged), ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3"));
  ASSERT_EQ(merged[0].ports_size(), 1);
  EXPECT_EQ(merged[0].ports(0).name(), "http");
  EXPECT_EQ(merged[0].ports(0).port(), 8080);
  EXPECT_EQ(merged[1].ports_size(), 0);
  EXPECT_EQ(merged[2].ports_size(), 0);
}

// Slices without the service-name label and FQDN slices are ignored.
TEST(MergeTest, UnlabelledAndFqdnSlicesIgnored) {
  auto merged = MergeEndpoints(
      Snap({{.name = "a", .endpoints = {E("10.0.0.1")}, .service_label = false},
            {.name = "b", .endpoints = {E("example.com")}, .address_type = kAddressTypeFQDN},
            {.name = "c", .endpoints = {E("10.0.0.2")}}}));
  EXPECT_THAT(Addresses(merged), ElementsAre("10.0.0.2"));
}

// Output is sorted by address; ports of one address merge across slices, sorted by (name,
// protocol), with "" and TCP as the defaults for nil name and protocol.
TEST(MergeTest, SortedAndPortsMergedAcrossSlices) {
  auto merged = MergeEndpoints(
      Snap({{.name = "a",
             .endpoints = {E("10.0.0.9"), E("10.0.0.1")},
             .ports = {Port("dns", 53, "UDP"), Port(std::nullopt, 9000)}},
            {.name = "b", .endpoints = {E("10.0.0.1")}, .ports = {Port("dns", 53, "TCP")}}}));
  ASSERT_THAT(Addresses(merged), ElementsAre("10.0.0.1", "10.0.0.9"));
  const v1::ServiceEndpoint& e = merged[0];
  ASSERT_EQ(e.ports_size(), 3);
  EXPECT_EQ(e.ports(0).name(), "");
  EXPECT_EQ(e.ports(0).protocol(), "TCP");
  EXPECT_EQ(e.ports(1).name(), "dns");
  EXPECT_EQ(e.ports(1).protocol(), "TCP");
  EXPECT_EQ(e.ports(2).protocol(), "UDP");
  EXPECT_EQ(merged[1].ports_size(), 2);
}

// Summaries count slices and merged endpoints by condition, overall and per zone.
TEST(SummarizeTest, CountsByConditionAndZone) {
  v1::ServiceSummary s = Summarize(
      Snap({{.name = "a", .endpoints = {E("10.0.0.1").Zone("z1"), E("10.0.0.2").Zone("z1").Term()}},
            {.name = "b",
             .endpoints = {E("10.0.0.1").Zone("z1"), E("10.0.0.3").Ready(false).Serving(false)}}}));
  EXPECT_EQ(s.namespace_(), "ns");
  EXPECT_EQ(s.name(), "web");
  EXPECT_EQ(s.mod_revision(), 42);
  EXPECT_EQ(s.slices(), 2);
  EXPECT_EQ(s.endpoints().total(), 3);
  EXPECT_EQ(s.endpoints().ready(), 1);
  EXPECT_EQ(s.endpoints().serving(), 2);
  EXPECT_EQ(s.endpoints().terminating(), 1);
  ASSERT_EQ(s.by_zone().size(), 2u);
  EXPECT_EQ(s.by_zone().at("z1").total(), 2);
  EXPECT_EQ(s.by_zone().at("z1").terminating(), 1);
  EXPECT_EQ(s.by_zone().at("").total(), 1);
  EXPECT_EQ(s.by_zone().at("").serving(), 0);
}

// The summary as MergeEndpoints' view counts it: the reference Summarize must agree with.
v1::ServiceSummary SummaryOfMergedView(const store::ServiceSnapshot& snap) {
  v1::ServiceSummary s;
  s.set_namespace_(snap.namespace_);
  s.set_name(snap.name);
  s.set_mod_revision(snap.mod_revision);
  s.set_slices(static_cast<int64_t>(snap.slices.size()));
  s.mutable_endpoints();  // present even when there are none
  auto count = [](const v1::EndpointConditions& c, v1::ConditionCounts* to) {
    to->set_total(to->total() + 1);
    to->set_ready(to->ready() + c.ready());
    to->set_serving(to->serving() + c.serving());
    to->set_terminating(to->terminating() + c.terminating());
  };
  for (const v1::ServiceEndpoint& e : MergeEndpoints(snap)) {
    count(e.conditions(), s.mutable_endpoints());
    count(e.conditions(), &(*s.mutable_by_zone())[e.zone()]);
  }
  return s;
}

// Summarize counts without building the merged view; on random snapshots (duplicate addresses
// across slices and within one, nil and set conditions, zones, foreign and FQDN slices, endpoints
// without addresses) it matches counting the merged view.
TEST(SummarizeTest, MatchesCountingTheMergedView) {
  std::mt19937 rng(20261204);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  for (int round = 0; round < 500; ++round) {
    std::vector<SliceSpec> specs;
    const int slices = 1 + pick(4);
    for (int i = 0; i < slices; ++i) {
      SliceSpec spec{.name = absl::StrCat("s", i)};
      spec.service_label = pick(8) != 0;
      if (pick(8) == 0) spec.address_type = kAddressTypeFQDN;
      const int endpoints = pick(6);
      for (int j = 0; j < endpoints; ++j) {
        if (pick(10) == 0) {
          spec.endpoints.push_back(v1::Endpoint());  // no address
          continue;
        }
        E e(absl::StrCat("10.0.0.", pick(5)));
        if (pick(3) == 0) e.Ready(pick(2) == 0);
        if (pick(3) == 0) e.Serving(pick(2) == 0);
        if (pick(3) == 0) e.Terminating(pick(2) == 0);
        if (pick(3) != 0) e.Zone(absl::StrCat("z", pick(3)));
        spec.endpoints.push_back(e);
      }
      specs.push_back(std::move(spec));
    }
    const store::ServiceSnapshot snap = Snap(specs);
    const v1::ServiceSummary want = SummaryOfMergedView(snap);
    const v1::ServiceSummary got = Summarize(snap);
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got, want))
        << "round " << round << "\ngot:  " << got.ShortDebugString()
        << "\nwant: " << want.ShortDebugString();
  }
}

}  // namespace
}  // namespace slicekeeper::query
