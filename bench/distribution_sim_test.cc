// The distribution simulator's figures (distribution_sim.h) for a small fixed trace, in both
// modes, against counts worked out by hand below; and its watch-event framing against protobuf's.
#include "bench/distribution_sim.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "slicekeeper/v1/discovery.pb.h"
#include "tests/test_util.h"

namespace slicekeeper::bench {
namespace {

v1::EndpointChange Change(const std::string& pod, const std::string& zone, bool remove) {
  v1::EndpointChange c;
  c.set_op(remove ? v1::EndpointChange::REMOVE : v1::EndpointChange::UPSERT);
  c.set_namespace_("sim");
  c.set_service("web");
  v1::Endpoint* e = c.mutable_endpoint();
  e->add_addresses(absl::StrCat("10.0.0.", pod[0] - 'a' + 1));
  e->mutable_target_ref()->set_kind("Pod");
  e->mutable_target_ref()->set_namespace_("sim");
  e->mutable_target_ref()->set_name(pod);
  if (remove) return c;
  e->mutable_conditions()->set_ready(true);
  e->set_zone(zone);
  v1::EndpointPort* p = c.add_ports();
  p->set_name("http");
  p->set_port(8080);
  return c;
}
v1::EndpointChange Add(const std::string& pod, const std::string& zone) {
  return Change(pod, zone, false);
}
v1::EndpointChange Remove(const std::string& pod) { return Change(pod, "", true); }

// The hand-worked trace, max 2 endpoints a slice. Pods a, c, e in zone-a; b, d, f in zone-b.
//   warmup  +a +b +c
//   1       -b
//   2       +d
//   3       +e +f
//   4       -a -c
workload::Trace HandTrace() {
  workload::Trace t;
  t.name = "hand";
  t.Add({Add("a", "zone-a"), Add("b", "zone-b"), Add("c", "zone-a")}, /*warmup=*/true);
  t.Add({Remove("b")});
  t.Add({Add("d", "zone-b")});
  t.Add({Add("e", "zone-a"), Add("f", "zone-b")});
  t.Add({Remove("a"), Remove("c")});
  return t;
}

reconcile::Options Options(reconcile::Distribution mode) {
  reconcile::Options o;
  o.max_endpoints_per_slice = 2;
  o.distribution = mode;
  o.packing.writes_per_change = 1;  // so that one change pays for a repack
  o.packing.max_writes_per_batch = 4;
  return o;
}

// What the hand-worked trace must give; the rest is the same in both modes: 6 changes in 4
// batches, 2 slices for a minimum of 2 at the end, zone minimum 1.125.
struct Figures {
  int64_t creates, updates, deletes;
  std::vector<double> fills;  // after each batch
  double p10_fill, slice_ratio, zone_reads;
  int64_t moved = 0, extra = 0;
};

void ExpectFigures(reconcile::Distribution mode, const Figures& want) {
  absl::StatusOr<NormalizedTrace> trace = Normalize(HandTrace());
  ASSERT_OK(trace);
  absl::StatusOr<SimResult> r = Replay(*trace, Options(mode));
  ASSERT_OK(r);
  EXPECT_EQ(r->changes, 6);
  EXPECT_EQ(r->batches, 4);
  EXPECT_EQ(r->creates, want.creates);
  EXPECT_EQ(r->updates, want.updates);
  EXPECT_EQ(r->deletes, want.deletes);
  double sum = 0;
  for (double f : want.fills) sum += f;
  EXPECT_NEAR(r->mean_fill, sum / 4, 1e-9);
  EXPECT_DOUBLE_EQ(r->p10_fill, want.p10_fill);
  EXPECT_DOUBLE_EQ(r->mean_slice_ratio, want.slice_ratio);
  EXPECT_EQ(r->end_slices, 2);
  EXPECT_EQ(r->end_min_slices, 2);
  EXPECT_DOUBLE_EQ(r->zone_reads, want.zone_reads);
  EXPECT_DOUBLE_EQ(r->zone_min, 1.125);
  EXPECT_EQ(r->moved, want.moved);
  EXPECT_EQ(r->extra_writes, want.extra);
  EXPECT_EQ(r->max_batch_extra, want.extra);
  EXPECT_GT(r->watch_bytes, (want.creates + want.updates + want.deletes) * 50);
}

// Kubernetes, by hand (slices as [endpoints]; fill = n / (2 * slices); zone reads per zone are
// the slices holding the zone's endpoints, against ceil(zone endpoints / 2)):
//   warmup  creates S1 [a b] (a full chunk), S2 [c] (no unchanged slice to fit it)
//   1  -b   S1 [a]: 1 U.            2 slices, fill 2/4 = .50, min 1, zones a: 2 (min 1)
//   2  +d   best fit of 1: the last of the size-1 slices, S2 [c d]: 1 U.
//                                   2 slices, fill 3/4 = .75, min 2, zones a: 2/1, b: 1/1
//   3  +e+f a full chunk: C S3 [e f].
//                                   3 slices, fill 5/6, min 3, zones a: 3/2, b: 2/1
//   4  -a-c S1 emptied: D; S2 [d]: U.
//                                   2 slices, fill 3/4, min 2, zones a: 1/1, b: 2/1
//   writes 1 C + 3 U + 1 D = 5 for 6 changes; mean fill (.5 + .75 + .8333 + .75) / 4 = .7083,
//   p10 .5; slices over min (2 + 1 + 1 + 1) / 4 = 1.25; zone reads (2 + 1.5 + 2.5 + 1.5) / 4 =
//   1.875 against (1 + 1 + 1.5 + 1) / 4 = 1.125.
TEST(DistributionSimTest, KubernetesHandWorked) {
  ExpectFigures(reconcile::Distribution::kKubernetes, {.creates = 1,
                                                       .updates = 3,
                                                       .deletes = 1,
                                                       .fills = {0.5, 0.75, 5.0 / 6, 0.75},
                                                       .p10_fill = 0.5,
                                                       .slice_ratio = 1.25,
                                                       .zone_reads = 1.875});
}

// Packed, by hand (writes_per_change 1, cap 4, threshold .9; the warmup earns 3):
//   warmup  as above: S1 [a b], S2 [c]; credit 3
//   1  -b   Kubernetes: S1 [a] (U). Credit 4, two slices for a minimum of one at fill .5: a
//           donor costs one write either way (S1 into S2: U S2 + D S1; S2 into S1 the same); the
//           first, S1, gives a to S2: U S2 [c a], D S1. 1 extra, credit 3.
//                                   1 slice, fill 1, min 1, zones a: 1/1
//   2  +d   no slice has room: C S3 [d] (2 slices = the minimum).
//                                   fill 3/4, min 2, zones a: 1/1, b: 1/1
//   3  +e+f a full chunk: C S4 [e f] (3 slices = the minimum).
//                                   fill 5/6, zones a: 2/2, b: 2/1
//   4  -a-c S2 emptied: D.          2 slices, fill 3/4, zones a: 1/1, b: 2/1
//   writes 2 C + 1 U + 2 D = 5; mean fill (1 + .75 + .8333 + .75) / 4 = .8333, p10 .75; slices
//   over min 1 throughout; zone reads (1 + 1 + 2 + 1.5) / 4 = 1.375 against 1.125; one
//   endpoint moved, one extra write (in batch 1).
TEST(DistributionSimTest, PackedHandWorked) {
  ExpectFigures(reconcile::Distribution::kPacked, {.creates = 2,
                                                   .updates = 1,
                                                   .deletes = 2,
                                                   .fills = {1, 0.75, 5.0 / 6, 0.75},
                                                   .p10_fill = 0.75,
                                                   .slice_ratio = 1,
                                                   .zone_reads = 1.375,
                                                   .moved = 1,
                                                   .extra = 1});
}

// A change the server would reject names its batch.
TEST(DistributionSimTest, NormalizeNamesTheBatch) {
  workload::Trace t = HandTrace();
  t.batches[2].changes[0].mutable_endpoint()->set_addresses(0, "nope");
  EXPECT_THAT(std::string(Normalize(t).status().message()),
              ::testing::StartsWith("batch 3: changes[0].endpoint.addresses[0]"));
}

// The framing of one event: by hand for a 300-byte slice at revision 5 (type 2 bytes, revision
// 2, slice tag 1 + length 2 + 300 = 307; in WatchResponse: tag 1 + length 2 = 310), and as
// protobuf encodes a real slice at a revision needing a two-byte varint.
TEST(DistributionSimTest, WatchEventBytes) {
  EXPECT_EQ(WatchEventBytes(300, 5), 310);
  v1::WatchResponse response;
  v1::WatchEvent* e = response.add_events();
  e->set_type(v1::WatchEvent::MODIFIED);
  e->set_revision(1000);
  e->mutable_slice()->mutable_metadata()->set_name("web-abcde");
  for (int i = 0; i < 20; ++i) e->mutable_slice()->add_endpoints()->add_addresses("10.0.0.1");
  EXPECT_EQ(WatchEventBytes(e->slice().ByteSizeLong(), 1000),
            static_cast<int64_t>(response.ByteSizeLong()));
}

}  // namespace
}  // namespace slicekeeper::bench
