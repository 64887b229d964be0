// Store tests of conditional slice writes (create-only, update-only, resourceVersion and uid
// preconditions, immutable addressType) and of reads at a past revision (SnapshotAt).
#include <map>
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
using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;
using namespace ::slicekeeper::store::testing;  // NOLINT: test builders
using Existence = SliceConditions::Existence;

class ConditionsTest : public ::testing::Test {
 protected:
  ConditionsTest() : store_(Opts()) {}
  Store::Options Opts() {
    Store::Options o;
    o.clock = &clock_;
    o.history_size = 50;
    return o;
  }
  FakeClock clock_;
  Store store_;
};

// Create-only fails on a taken name (foreign or managed) and applies nothing.
TEST_F(ConditionsTest, CreateOnly) {
  const SliceConditions create{.existence = Existence::kMustNotExist};
  ASSERT_OK(store_.PutSlice(ForeignSlice("ns", "web", "m", Ip(1)), create));
  EXPECT_THAT(store_.PutSlice(ForeignSlice("ns", "web", "m", Ip(2)), create),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("ns/m already exists")));
  EXPECT_THAT(store_.PutSlice(ForeignSlice("ns", "api", "m", Ip(2)), create),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("ns/m")));
  ASSERT_OK(store_.ApplyChanges({Upsert("ns", "web", Ip(3))}));
  std::string managed;
  for (const SlicePtr& s : store_.GetService("ns", "web")->slices) {
    if (s->Managed()) managed = s->name;
  }
  EXPECT_THAT(store_.PutSlice(ForeignSlice("ns", "web", managed, Ip(2)), create),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(managed)));
  EXPECT_EQ(store_.GetSlice("ns", "m")->first->endpoints[0]->addresses(0), Ip(1));
  EXPECT_EQ(store_.revision(), 2);
}

// Update-only fails on a missing name and releases the name it looked at.
TEST_F(ConditionsTest, UpdateOnly) {
  const SliceConditions update{.existence = Existence::kMustExist};
  EXPECT_THAT(store_.PutSlice(ForeignSlice("ns", "web", "m", Ip(1)), update),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("ns/m not found")));
  EXPECT_EQ(store_.revision(), 0);
  // The name was not kept: another service may take it.
  ASSERT_OK(store_.PutSlice(ForeignSlice("ns", "api", "m", Ip(1))));
  auto updated = store_.PutSlice(ForeignSlice("ns", "api", "m", Ip(2)), update);
  ASSERT_OK(updated);
  EXPECT_EQ(updated->first->generation, 2);
}

// resourceVersion and uid preconditions: a stale one is ABORTED and nothing is applied.
TEST_F(ConditionsTest, OptimisticConcurrency) {
  auto first = store_.PutSlice(ForeignSlice("ns", "web", "m", Ip(1)));
  ASSERT_OK(first);
  const int64_t rv = first->first->resource_version;
  const std::string uid = first->first->uid;
  ASSERT_OK(store_.PutSlice(ForeignSlice("ns", "web", "m", Ip(2)),
                            SliceConditions{.resource_version = rv, .uid = uid}));
  EXPECT_THAT(store_.PutSlice(ForeignSlice("ns", "web", "m", Ip(3)),
                              SliceConditions{.resource_version = rv}),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("has been modified")));
  EXPECT_THAT(store_.PutSlice(ForeignSlice("ns", "web", "m", Ip(3)), SliceConditions{.uid = "x"}),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("uid")));
  EXPECT_EQ(store_.GetSlice("ns", "m")->first->endpoints[0]->addresses(0), Ip(2));
  EXPECT_THAT(store_.DeleteSlice("ns", "m", SliceConditions{.resource_version = rv}),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("has been modified")));
  EXPECT_OK(store_.GetSlice("ns", "m"));
  const int64_t current = store_.GetSlice("ns", "m")->first->resource_version;
  EXPECT_OK(store_.DeleteSlice("ns", "m", SliceConditions{.resource_version = current}));
  EXPECT_THAT(store_.GetSlice("ns", "m"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("m")));
}

// An update may not change addressType (Kubernetes: immutable).
TEST_F(ConditionsTest, AddressTypeImmutable) {
  ASSERT_OK(store_.PutSlice(ForeignSlice("ns", "web", "m", Ip(1))));
  v1::EndpointSlice v6 = ForeignSlice("ns", "web", "m", "");
  v6.set_address_type("IPv6");
  v6.mutable_endpoints(0)->set_addresses(0, "2001:db8::1");
  EXPECT_THAT(store_.PutSlice(v6),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("addressType")));
}

// A catalog's services by value: a past state is rebuilt from the history's deltas, so it equals
// the state that was current then without being the same objects.
std::vector<std::string> Contents(const CatalogPtr& catalog) {
  std::vector<std::string> out;
  for (const ServiceSnapshotPtr& s : catalog->services) {
    std::string text = absl::StrCat(s->namespace_, "/", s->name, " mod ", s->mod_revision, " {",
                                    s->record ? s->record->ShortDebugString() : "no record", "}");
    for (const SlicePtr& slice : s->slices) {
      v1::EndpointSlice proto;  // text format: labels in key order, unlike map serialization
      EXPECT_TRUE(proto.ParseFromString(slice->Serialize()));
      absl::StrAppend(&text, "\n  ", proto.ShortDebugString());
    }
    out.push_back(std::move(text));
  }
  return out;
}

// SnapshotAt(r) equals the catalog that was current at r, for every r still in the history,
// including services deleted and created since; older revisions are OUT_OF_RANGE.
TEST_F(ConditionsTest, SnapshotAtPastRevisions) {
  std::map<int64_t, CatalogPtr> seen;
  seen[0] = store_.Snapshot();
  for (int i = 0; i < 30; ++i) {
    const std::string svc = "s" + std::to_string(i % 4);
    const std::string ns = i % 2 ? "ns" : "other";
    if (i % 7 == 6) {
      ASSERT_OK(store_.DeleteService(ns, svc));
    } else {
      ASSERT_OK(store_.ApplyChanges({Upsert(ns, svc, Ip(i))}));
    }
    seen[store_.revision()] = store_.Snapshot();
  }
  for (const auto& [revision, expected] : seen) {
    absl::StatusOr<CatalogPtr> at = store_.SnapshotAt("", revision);
    ASSERT_OK(at);
    EXPECT_EQ((*at)->revision, revision);
    EXPECT_EQ(Contents(*at), Contents(expected)) << "revision " << revision;
    absl::StatusOr<CatalogPtr> ns_only = store_.SnapshotAt("ns", revision);
    ASSERT_OK(ns_only);
    for (const ServiceSnapshotPtr& s : (*ns_only)->services) EXPECT_EQ(s->namespace_, "ns");
  }
  EXPECT_THAT(store_.SnapshotAt("", store_.revision() + 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("newer")));
  // Beyond the 50 retained commits.
  for (int i = 0; i < 60; ++i) ASSERT_OK(store_.ApplyChanges({Upsert("ns", "z", Ip(100 + i))}));
  EXPECT_THAT(store_.SnapshotAt("", 1), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("")));
}

// ChangesSince honours its limit; AwaitRevision answers at once for published revisions and gives
// up at its deadline for later ones.
TEST_F(ConditionsTest, ChangesSinceLimitAndAwaitRevision) {
  for (int i = 0; i < 5; ++i) ASSERT_OK(store_.ApplyChanges({Upsert("ns", "web", Ip(i))}));
  absl::StatusOr<std::vector<CommitPtr>> two = store_.ChangesSince(1, 2);
  ASSERT_OK(two);
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[0]->revision, 2);
  EXPECT_EQ((*two)[1]->revision, 3);
  EXPECT_EQ(store_.ChangesSince(1)->size(), 4u);
  EXPECT_TRUE(store_.AwaitRevision(5, absl::InfinitePast()));
  EXPECT_FALSE(store_.AwaitRevision(6, absl::Now()));
}

}  // namespace
}  // namespace slicekeeper::store
