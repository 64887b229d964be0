// Store over storage: writes persist before they are acknowledged, a reopened store is the same
// store (state, revision, history, name index), and a failed persist applies nothing.
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/memory_storage.h"
#include "server/storage/rocksdb_storage.h"
#include "server/store/store.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fault_injecting_storage.h"
#include "tests/storage/storage_test_util.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::store {
namespace {

using ::slicekeeper::testing::FakeClock;
using ::slicekeeper::testing::FaultInjectingStorage;
using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using namespace ::slicekeeper::store::testing;  // NOLINT: test builders

class RecoveryTest : public ::testing::Test {
 protected:
  Store::Options Opts(storage::Storage* s) {
    Store::Options o;
    o.clock = &clock_;
    o.reconcile.max_endpoints_per_slice = 3;
    o.shards = 4;
    o.storage = s;
    return o;
  }
  std::unique_ptr<Store> OpenRocks() {
    store_.reset();
    rocks_.reset();
    absl::StatusOr<std::unique_ptr<storage::RocksDbStorage>> s =
        storage::RocksDbStorage::Open({.path = dir_.path()});
    EXPECT_OK(s);
    if (!s.ok()) return nullptr;
    rocks_ = std::move(*s);
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(Opts(rocks_.get()));
    EXPECT_OK(store);
    return store.ok() ? std::move(*store) : nullptr;
  }
  // A mix of every kind of write over three services.
  void WriteEverything(Store& s) {
    for (int i = 0; i < 10; ++i) {
      ASSERT_OK(s.ApplyChanges(std::vector<v1::EndpointChange>{
          Upsert("default", "web", Ip(i)), Upsert("prod", "api", Ip(100 + i))}));
    }
    ASSERT_OK(s.ApplyChanges(std::vector<v1::EndpointChange>{Remove("default", "web", Ip(3))}));
    ASSERT_OK(s.PutSlice(ForeignSlice("default", "web", "mirror-1", "10.9.0.1")));
    ASSERT_OK(s.PutSlice(ForeignSlice("default", "db", "mirror-db", "10.9.0.2")));
    ASSERT_OK(s.PutSlice(ForeignSlice("default", "web", "mirror-2", "10.9.0.3")));
    ASSERT_OK(s.DeleteSlice("default", "mirror-2"));
    v1::ServiceRecord record;
    record.set_namespace_("prod");
    record.set_name("api");
    record.set_traffic_distribution("PreferClose");
    ASSERT_OK(s.UpsertService(record));
    v1::Node node;
    node.set_name("node-1");
    node.set_zone("z1");
    node.set_cpu_millis(1000);
    node.set_ready(true);
    ASSERT_OK(s.PutNodes({&node, 1}));
    ASSERT_OK(s.ApplyChanges(std::vector<v1::EndpointChange>{Upsert("tmp", "gone", Ip(7))}));
    ASSERT_OK(s.DeleteService("tmp", "gone"));
  }

  FakeClock clock_;
  storage::testing::TempDir dir_;
  std::unique_ptr<storage::RocksDbStorage> rocks_;
  std::unique_ptr<Store> store_;
};

// After a restart every service, the revision, the nodes, the totals and ChangesSince from a
// revision before the restart equal what the store served before it.
TEST_F(RecoveryTest, ReopenedStoreEqualsTheOldOne) {
  std::unique_ptr<Store> s = OpenRocks();
  ASSERT_NE(s, nullptr);
  WriteEverything(*s);
  const CatalogPtr before = s->Snapshot();
  const absl::StatusOr<std::vector<CommitPtr>> history = s->ChangesSince(3);
  ASSERT_OK(history);
  const Totals totals = s->totals();
  const int64_t revision = s->revision();
  s.reset();

  s = OpenRocks();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->revision(), revision);
  ExpectSameCatalog(*before, *s->Snapshot());
  absl::StatusOr<std::vector<CommitPtr>> after = s->ChangesSince(3);
  ASSERT_OK(after);
  ExpectSameCommits(*history, *after);
  EXPECT_THAT(s->Nodes(), SizeIs(1));
  EXPECT_EQ(s->totals().services, totals.services);
  EXPECT_EQ(s->totals().slices, totals.slices);
  EXPECT_EQ(s->totals().endpoints, totals.endpoints);
  ASSERT_OK(s->GetSlice("default", "mirror-1"));
}

// Writes after a restart continue the revision sequence and the reconciler's state, and the name
// index still guards names taken before the restart.
TEST_F(RecoveryTest, WritesContinueAfterRestart) {
  std::unique_ptr<Store> s = OpenRocks();
  ASSERT_NE(s, nullptr);
  WriteEverything(*s);
  const int64_t revision = s->revision();
  std::string managed;
  for (const SlicePtr& slice : s->GetService("default", "web")->slices) {
    if (slice->Managed()) managed = slice->name;
  }
  ASSERT_FALSE(managed.empty());
  s.reset();

  s = OpenRocks();
  ASSERT_NE(s, nullptr);
  absl::StatusOr<WriteResult> r =
      s->ApplyChanges(std::vector<v1::EndpointChange>{Remove("default", "web", Ip(0))});
  ASSERT_OK(r);
  EXPECT_EQ(r->revision, revision + 1);
  EXPECT_EQ(r->stats.endpoints_removed(), 1);
  // Re-adding an endpoint that exists is an update, not an add: the state was rebuilt.
  r = s->ApplyChanges(std::vector<v1::EndpointChange>{Upsert("default", "web", Ip(1))});
  ASSERT_OK(r);
  EXPECT_EQ(r->stats.endpoints_added(), 0);
  EXPECT_EQ(EndpointCount(*s->GetService("default", "web")), 8 + 1);  // 8 managed + mirror-1
  v1::EndpointSlice clash = ForeignSlice("default", "web", managed, "10.9.9.9");
  EXPECT_THAT(s->PutSlice(clash),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("managed")));
  EXPECT_THAT(s->PutSlice(ForeignSlice("default", "other", "mirror-1", "10.9.9.9")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("belongs to")));
  const CatalogPtr latest = s->Snapshot();
  s.reset();
  s = OpenRocks();
  ASSERT_NE(s, nullptr);
  ExpectSameCatalog(*latest, *s->Snapshot());
}

// A failed persist applies nothing, returns UNAVAILABLE and does not hold up later writes; the
// storage and the memory state stay equal.
TEST_F(RecoveryTest, FailedPersistAppliesNothing) {
  storage::MemoryStorage memory({});
  FaultInjectingStorage faulty(&memory);
  absl::StatusOr<std::unique_ptr<Store>> opened = Store::Open(Opts(&faulty));
  ASSERT_OK(opened);
  Store& s = **opened;
  ASSERT_OK(s.ApplyChanges(std::vector<v1::EndpointChange>{Upsert("default", "web", Ip(1))}));
  const ServiceSnapshotPtr before = s.GetService("default", "web");
  faulty.FailNextCommits(1);
  EXPECT_THAT(s.ApplyChanges(std::vector<v1::EndpointChange>{Upsert("default", "web", Ip(2)),
                                                             Upsert("default", "new", Ip(3))}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("injected")));
  EXPECT_EQ(s.GetService("default", "web"), before);
  EXPECT_EQ(s.GetService("default", "new"), nullptr);
  EXPECT_EQ(s.revision(), 2);  // the failed revision is published empty
  absl::StatusOr<WriteResult> r =
      s.ApplyChanges(std::vector<v1::EndpointChange>{Upsert("default", "web", Ip(2))});
  ASSERT_OK(r);
  EXPECT_EQ(r->revision, 3);
  EXPECT_EQ(r->stats.endpoints_added(), 1);
  // A foreign slice whose persist fails leaves its name free.
  faulty.FailNextCommits(1);
  EXPECT_FALSE(s.PutSlice(ForeignSlice("default", "web", "mirror-1", "10.9.0.1")).ok());
  ASSERT_OK(s.PutSlice(ForeignSlice("default", "web", "mirror-1", "10.9.0.1")));
  const CatalogPtr live = s.Snapshot();
  absl::StatusOr<std::unique_ptr<Store>> reopened = Store::Open(Opts(&memory));
  ASSERT_OK(reopened);
  ExpectSameCatalog(*live, *(*reopened)->Snapshot());
  // Resume across the gap left by the failed commits: empty commits stand in for them.
  absl::StatusOr<std::vector<CommitPtr>> since = (*reopened)->ChangesSince(1);
  ASSERT_OK(since);
  ASSERT_THAT(*since, SizeIs(4));
  EXPECT_THAT((*since)[0]->services, SizeIs(0));
}

// A store given storage but not created by Open refuses writes rather than overwrite data.
TEST_F(RecoveryTest, StoreNotOpenedRefusesWrites) {
  storage::MemoryStorage memory({});
  Store s(Opts(&memory));
  EXPECT_THAT(s.ApplyChanges(std::vector<v1::EndpointChange>{Upsert("default", "web", Ip(1))}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("Store::Open")));
}

// History beyond the storage window is OUT_OF_RANGE after a restart, as before it.
TEST_F(RecoveryTest, ResumeBeyondTheWindowIsOutOfRange) {
  storage::MemoryStorage memory({.history_size = 5});
  {
    absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(Opts(&memory));
    ASSERT_OK(s);
    for (int i = 0; i < 10; ++i) {
      ASSERT_OK((*s)->ApplyChanges(std::vector<v1::EndpointChange>{Upsert("a", "b", Ip(i))}));
    }
  }
  absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(Opts(&memory));
  ASSERT_OK(s);
  EXPECT_EQ((*s)->revision(), 10);
  EXPECT_THAT((*s)->ChangesSince(5), ::slicekeeper::testing::IsOkAndHolds(SizeIs(5)));
  EXPECT_THAT((*s)->ChangesSince(4), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("")));
}

}  // namespace
}  // namespace slicekeeper::store
