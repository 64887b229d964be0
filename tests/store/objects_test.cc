// Store tests of the non-endpoint writes: foreign slices, service records, ReplaceEndpoints and
// the node registry.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/store.h"
#include "tests/fakes/fake_clock.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::store {
namespace {

using ::slicekeeper::testing::FakeClock;
using ::slicekeeper::testing::IsOkAndHolds;
using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using namespace ::slicekeeper::store::testing;  // NOLINT: test builders

class ObjectsTest : public ::testing::Test {
 protected:
  ObjectsTest() : store_(Opts()) {}
  Store::Options Opts() {
    Store::Options o;
    o.clock = &clock_;
    return o;
  }
  absl::StatusOr<WriteResult> Apply(std::vector<v1::EndpointChange> changes) {
    return store_.ApplyChanges(changes);
  }
  std::string ManagedSliceName(const std::string& ns, const std::string& svc) {
    for (const SlicePtr& s : store_.GetService(ns, svc)->slices) {
      if (s->Managed()) return s->name;
    }
    return "";
  }
  FakeClock clock_;
  Store store_;
};

// A foreign slice is stored as given, with server fields assigned, beside the managed slices.
TEST_F(ObjectsTest, ForeignSliceStoredAsGiven) {
  auto put = store_.PutSlice(ForeignSlice("ns", "web", "mirror-1", Ip(9)));
  ASSERT_OK(put);
  const SlicePtr& slice = put->first;
  EXPECT_EQ(put->second, 1);
  EXPECT_EQ(slice->resource_version, 1);
  EXPECT_EQ(slice->generation, 1);
  EXPECT_FALSE(slice->uid.empty());
  EXPECT_EQ(slice->creation_timestamp, FormatRfc3339(clock_.Now()));
  EXPECT_EQ(slice->ports->at(0).port(), 8080);
  ServiceSnapshotPtr s = store_.GetService("ns", "web");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->record, nullptr);
  EXPECT_THAT(s->slices, SizeIs(1));
  EXPECT_THAT(store_.GetSlice("ns", "mirror-1"), IsOkAndHolds(::testing::Pair(slice, 1)));

  // Managed slices join the same snapshot; the foreign one is never redistributed.
  ASSERT_OK(Apply({Upsert("ns", "web", Ip(1))}));
  s = store_.GetService("ns", "web");
  ASSERT_THAT(s->slices, SizeIs(2));
  EXPECT_NE(s->record, nullptr);
  EXPECT_EQ(store_.GetSlice("ns", "mirror-1")->first, slice);
  EXPECT_EQ(store_.totals().endpoints, 2);
}

// Re-putting a foreign slice bumps generation only when its content changed.
TEST_F(ObjectsTest, ForeignSliceUpdate) {
  ASSERT_OK(store_.PutSlice(ForeignSlice("ns", "web", "mirror-1", Ip(9))));
  auto same = store_.PutSlice(ForeignSlice("ns", "web", "mirror-1", Ip(9)));
  ASSERT_OK(same);
  EXPECT_EQ(same->second, 1);
  EXPECT_EQ(same->first->generation, 1);
  auto changed = store_.PutSlice(ForeignSlice("ns", "web", "mirror-1", Ip(10)));
  ASSERT_OK(changed);
  EXPECT_EQ(changed->second, 2);
  EXPECT_EQ(changed->first->generation, 2);
  EXPECT_EQ(changed->first->uid, same->first->uid);
  EXPECT_EQ(changed->first->endpoints[0]->addresses(0), Ip(10));
}

// Foreign slices need the service-name label, another manager and a free name.
TEST_F(ObjectsTest, ForeignSliceErrors) {
  v1::EndpointSlice unlabeled = ForeignSlice("ns", "web", "m", Ip(1));
  unlabeled.mutable_metadata()->mutable_labels()->erase(kLabelServiceName);
  EXPECT_THAT(store_.PutSlice(unlabeled),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "metadata.labels[kubernetes.io/service-name]: required"));
  v1::EndpointSlice ours = ForeignSlice("ns", "web", "m", Ip(1));
  (*ours.mutable_metadata()->mutable_labels())[kLabelManagedBy] = kManagerName;
  EXPECT_THAT(store_.PutSlice(ours),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(kManagerName)));

  ASSERT_OK(Apply({Upsert("ns", "web", Ip(1))}));
  const std::string managed = ManagedSliceName("ns", "web");
  EXPECT_THAT(store_.PutSlice(ForeignSlice("ns", "web", managed, Ip(2))),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(managed)));
  ASSERT_OK(store_.PutSlice(ForeignSlice("ns", "web", "m", Ip(2))));
  EXPECT_THAT(store_.PutSlice(ForeignSlice("ns", "api", "m", Ip(3))),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("web")));
  EXPECT_EQ(store_.GetService("ns", "api"), nullptr);
  // The same name in another namespace is free.
  EXPECT_OK(store_.PutSlice(ForeignSlice("other", "api", "m", Ip(3))));

  EXPECT_THAT(store_.DeleteSlice("ns", managed),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(managed)));
  EXPECT_THAT(store_.DeleteSlice("ns", "nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
}

// Deleting a foreign slice removes it; a service left without slices or record disappears.
TEST_F(ObjectsTest, DeleteForeignSlice) {
  ASSERT_OK(store_.PutSlice(ForeignSlice("ns", "web", "m", Ip(1))));
  EXPECT_THAT(store_.DeleteSlice("ns", "m"), IsOkAndHolds(2));
  EXPECT_EQ(store_.GetService("ns", "web"), nullptr);
  EXPECT_THAT(store_.GetSlice("ns", "m"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("m")));
  EXPECT_EQ(store_.totals().services, 0);
  EXPECT_EQ(store_.totals().slices, 0);
  // The name is free again, for any service.
  EXPECT_OK(store_.PutSlice(ForeignSlice("ns", "api", "m", Ip(1))));
}

// DeleteService removes the record and every managed slice, keeps foreign slices, and a
// re-created service gets a new uid.
TEST_F(ObjectsTest, DeleteService) {
  EXPECT_THAT(store_.DeleteService("ns", "web"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("web")));
  ASSERT_OK(Apply({Upsert("ns", "web", Ip(1)), Upsert("ns", "web", Ip(2))}));
  const std::string uid = store_.GetService("ns", "web")->record->uid();
  const std::string managed = ManagedSliceName("ns", "web");
  ASSERT_OK(store_.PutSlice(ForeignSlice("ns", "web", "m", Ip(9))));
  absl::StatusOr<WriteResult> del = store_.DeleteService("ns", "web");
  ASSERT_OK(del);
  EXPECT_EQ(del->revision, 3);
  EXPECT_EQ(del->stats.slices_deleted(), 1);
  EXPECT_EQ(del->stats.endpoints_removed(), 2);
  ServiceSnapshotPtr s = store_.GetService("ns", "web");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->record, nullptr);
  ASSERT_THAT(s->slices, SizeIs(1));
  EXPECT_EQ(s->slices[0]->name, "m");
  EXPECT_THAT(store_.GetSlice("ns", managed),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(managed)));
  EXPECT_EQ(store_.totals().endpoints, 1);
  EXPECT_THAT(store_.DeleteService("ns", "web"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("web")));

  ASSERT_OK(Apply({Upsert("ns", "web", Ip(1))}));
  EXPECT_NE(store_.GetService("ns", "web")->record->uid(), uid);
}

// UpsertService keeps uid and creation time, stamps resource_version, and an identical record
// is a no-op.
TEST_F(ObjectsTest, UpsertService) {
  ASSERT_OK(Apply({Upsert("ns", "web", Ip(1))}));
  ServiceSnapshotPtr before = store_.GetService("ns", "web");
  v1::ServiceRecord record;
  record.set_namespace_("ns");
  record.set_name("web");
  record.set_uid("client-chosen");
  (*record.mutable_labels())["team"] = "a";
  clock_.Advance(absl::Hours(1));
  auto r = store_.UpsertService(record);
  ASSERT_OK(r);
  EXPECT_EQ(r->first.uid(), before->record->uid());
  EXPECT_EQ(r->first.creation_timestamp(), before->record->creation_timestamp());
  EXPECT_EQ(r->first.resource_version(), "2");
  EXPECT_EQ(r->second.revision, 2);
  ServiceSnapshotPtr after = store_.GetService("ns", "web");
  EXPECT_EQ(after->record->labels().at("team"), "a");
  EXPECT_EQ(after->slices[0]->meta->labels().at("team"), "a");
  EXPECT_EQ(after->slices[0]->resource_version, 2);

  auto again = store_.UpsertService(record);
  ASSERT_OK(again);
  EXPECT_EQ(again->second.revision, 2);
  EXPECT_EQ(again->first.resource_version(), "2");
  record.set_name("Bad_Name");
  EXPECT_THAT(store_.UpsertService(record),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name")));
}

// The distribution annotation reaches the reconciler: under the default (kubernetes) a service
// annotated packed has the slices a batch half-empties packed into half as many, its neighbour
// keeps Kubernetes' ten half-empty slices, at the same number of writes; a bad value is
// INVALID_ARGUMENT naming the annotation.
TEST_F(ObjectsTest, DistributionAnnotation) {
  Store::Options o = Opts();
  o.reconcile.max_endpoints_per_slice = 10;
  Store store(o);
  v1::ServiceRecord packed;
  packed.set_namespace_("ns");
  packed.set_name("packed");
  (*packed.mutable_annotations())[kAnnotationDistribution] = "packed";
  ASSERT_OK(store.UpsertService(packed));
  for (const char* svc : {"packed", "plain"}) {
    std::vector<v1::EndpointChange> fill, halve;
    for (int i = 0; i < 100; ++i) fill.push_back(Upsert("ns", svc, Ip(i)));
    for (int i = 0; i < 100; i += 2) halve.push_back(Remove("ns", svc, Ip(i)));
    ASSERT_OK(store.ApplyChanges(fill));
    absl::StatusOr<WriteResult> r = store.ApplyChanges(halve);
    ASSERT_OK(r);
    EXPECT_EQ(r->stats.slices_created() + r->stats.slices_updated() + r->stats.slices_deleted(), 10)
        << svc;
  }
  EXPECT_THAT(store.GetService("ns", "packed")->slices, SizeIs(5));
  EXPECT_THAT(store.GetService("ns", "plain")->slices, SizeIs(10));
  for (const char* svc : {"packed", "plain"}) {
    size_t endpoints = 0;
    for (const SlicePtr& slice : store.GetService("ns", svc)->slices) {
      endpoints += slice->endpoints.size();
    }
    EXPECT_EQ(endpoints, 50u) << svc;
  }
  (*packed.mutable_annotations())[kAnnotationDistribution] = "tight";
  EXPECT_THAT(store.UpsertService(packed),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("annotations[slicekeeper.io/distribution]")));
}

// ReplaceEndpoints removes what is not listed and upserts the rest, at one revision.
TEST_F(ObjectsTest, ReplaceEndpoints) {
  ASSERT_OK(
      Apply({Upsert("ns", "web", Ip(1)), Upsert("ns", "web", Ip(2)), Upsert("ns", "web", Ip(3))}));
  std::vector<v1::DesiredEndpoint> desired;
  for (int i : {2, 3, 4}) {
    v1::EndpointChange c = Upsert("ns", "web", Ip(i));
    v1::DesiredEndpoint d;
    *d.mutable_endpoint() = c.endpoint();
    *d.mutable_ports() = c.ports();
    desired.push_back(d);
  }
  absl::StatusOr<WriteResult> r = store_.ReplaceEndpoints("ns", "web", desired);
  ASSERT_OK(r);
  EXPECT_EQ(r->revision, 2);
  EXPECT_EQ(r->stats.endpoints_added(), 1);
  EXPECT_EQ(r->stats.endpoints_removed(), 1);
  std::vector<std::string> ips;
  for (const SlicePtr& s : store_.GetService("ns", "web")->slices) {
    for (const EndpointPtr& e : s->endpoints) ips.emplace_back(e->addresses(0));
  }
  EXPECT_THAT(ips, ::testing::UnorderedElementsAre(Ip(2), Ip(3), Ip(4)));
  EXPECT_THAT(store_.ReplaceEndpoints("ns", "web", desired),
              IsOkAndHolds(::testing::Field(&WriteResult::revision, 2)));

  desired[1].mutable_endpoint()->set_addresses(0, "nope");
  EXPECT_THAT(store_.ReplaceEndpoints("ns", "web", desired),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("endpoints[1]")));
  EXPECT_THAT(store_.ReplaceEndpoints("NS", "web", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("namespace")));
  EXPECT_EQ(store_.revision(), 2);
}

// PutNodes validates every node and replaces the registry; with no Auto service it takes no
// revision.
// An endpoint that moves to another port set stays in the service: the batch counts one update
// (BatchStats, per identity), and the move rewrites its slice set (here: one slice recycled).
TEST_F(ObjectsTest, PortSetMoveCountsAsUpdate) {
  ASSERT_OK(Apply({Upsert("ns", "web", Ip(1))}));
  v1::EndpointChange moved = Upsert("ns", "web", Ip(1));
  moved.mutable_ports(0)->set_port(8080);
  absl::StatusOr<WriteResult> r = Apply({moved});
  ASSERT_OK(r);
  EXPECT_EQ(r->stats.endpoints_added(), 0);
  EXPECT_EQ(r->stats.endpoints_removed(), 0);
  EXPECT_EQ(r->stats.endpoints_updated(), 1);
  ServiceSnapshotPtr s = store_.GetService("ns", "web");
  ASSERT_THAT(s->slices, ::testing::SizeIs(1));
  EXPECT_EQ((*s->slices[0]->ports)[0].port(), 8080);
  // The controller metrics keep Kubernetes' per-port-set view: an add in the new set (the old
  // set's slices are deleted whole, which Kubernetes does not count as removals).
  int64_t added = 0;
  for (const reconcile::SyncReport& sync : r->syncs) added += sync.endpoints_added;
  EXPECT_EQ(added, 1);
}

TEST_F(ObjectsTest, PutNodes) {
  std::vector<v1::Node> nodes(2);
  nodes[0].set_name("node-a");
  nodes[0].set_zone("z1");
  nodes[0].set_cpu_millis(1000);
  nodes[1].set_name("node-b");
  nodes[1].set_zone("z2");
  nodes[1].set_cpu_millis(1000);
  ASSERT_OK(Apply({Upsert("ns", "web", Ip(1))}));
  EXPECT_THAT(store_.PutNodes(nodes), IsOkAndHolds(1));
  ASSERT_THAT(store_.Nodes(), SizeIs(2));
  EXPECT_EQ(store_.Nodes()[1].name(), "node-b");
  nodes[1].set_cpu_millis(-1);
  EXPECT_THAT(store_.PutNodes(nodes),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nodes[1]")));
  EXPECT_EQ(store_.Nodes()[1].cpu_millis(), 1000);
  EXPECT_OK(store_.PutNodes({}));
  EXPECT_THAT(store_.Nodes(), IsEmpty());
}

}  // namespace
}  // namespace slicekeeper::store
