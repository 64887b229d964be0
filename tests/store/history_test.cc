// The history read back from its records (server/store/internal/rewind.h): ChangesSince and
// Rewind rebuild exactly the commits a listener saw, from memory and — after a restart — from
// RocksDB; and a restart reads the live state only, however many commits came before it.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/rocksdb_storage.h"
#include "server/store/store.h"
#include "tests/fakes/fake_clock.h"
#include "tests/storage/storage_test_util.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::store {
namespace {

using ::slicekeeper::testing::FakeClock;
using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;
using namespace ::slicekeeper::store::testing;  // NOLINT: test builders

constexpr const char* kServices[] = {"web", "api", "db"};

// Random writes of every kind over three services: upserts, removes, ready flips, port-set moves,
// foreign slices, record updates and service deletions.
class Churner {
 public:
  explicit Churner(uint32_t seed) : rng_(seed) {}

  void Step(Store& store) {
    const std::string service = kServices[rng_() % 3];
    const std::string ip = Ip(rng_() % 40);
    switch (rng_() % 10) {
      case 0:
        store.ApplyChanges(std::vector<v1::EndpointChange>{Remove("ns", service, ip)}).IgnoreError();
        return;
      case 1: {
        v1::EndpointChange moved = Upsert("ns", service, ip);
        moved.mutable_ports(0)->set_port(81);
        store.ApplyChanges(std::vector<v1::EndpointChange>{moved}).IgnoreError();
        return;
      }
      case 2:
        store.PutSlice(ForeignSlice("ns", service, absl::StrCat("mirror-", service), ip))
            .IgnoreError();
        return;
      case 3: {
        v1::ServiceRecord record;
        record.set_namespace_("ns");
        record.set_name(service);
        (*record.mutable_labels())["round"] = absl::StrCat(rng_() % 3);
        store.UpsertService(record).IgnoreError();
        return;
      }
      case 4:
        if (rng_() % 4 == 0) store.DeleteService("ns", service).IgnoreError();
        return;
      default: {
        std::vector<v1::EndpointChange> batch;
        for (int i = static_cast<int>(rng_() % 5); i >= 0; --i) {
          batch.push_back(Upsert("ns", service, Ip(rng_() % 40), rng_() % 2 == 0));
        }
        store.ApplyChanges(batch).IgnoreError();
      }
    }
  }

 private:
  std::mt19937 rng_;
};

Store::Options Opts(Clock* clock, storage::Storage* storage = nullptr) {
  Store::Options o;
  o.clock = clock;
  o.shards = 4;
  o.reconcile.max_endpoints_per_slice = 4;
  o.storage = storage;
  return o;
}

// The commits after `revision` among `all` (a listener's record), in order.
std::vector<CommitPtr> After(const std::vector<CommitPtr>& all, int64_t revision) {
  std::vector<CommitPtr> out;
  for (const CommitPtr& c : all) {
    if (c->revision > revision) out.push_back(c);
  }
  return out;
}

// Checks Rewind(revision) against a listener's commits: each changed service's state then is
// the `before` of its first commit after `revision`, and deletes are dated by their commits.
void ExpectRewound(const Store& store, const std::vector<CommitPtr>& all, int64_t revision) {
  absl::StatusOr<Rewound> rewound = store.Rewind("", {}, revision);
  ASSERT_OK(rewound);
  absl::flat_hash_map<std::string, ServiceSnapshotPtr> then;
  for (const CommitPtr& c : After(all, revision)) {
    for (const ServiceChange& sc : c->services) {
      const ServiceSnapshot& any = sc.after != nullptr ? *sc.after : *sc.before;
      then.try_emplace(absl::StrCat(any.namespace_, "/", any.name), sc.before);
    }
  }
  for (const Rewound::Service& s : rewound->changed) {
    const ServiceSnapshot& any = s.now != nullptr ? *s.now : *s.then;
    auto it = then.find(absl::StrCat(any.namespace_, "/", any.name));
    ASSERT_NE(it, then.end()) << any.name << " reported changed since " << revision;
    EXPECT_TRUE(SameSnapshot(s.then, it->second)) << any.name << " at " << revision;
    EXPECT_TRUE(SameSnapshot(s.now, store.GetService(any.namespace_, any.name)));
    if (s.now == nullptr) {
      EXPECT_GT(s.deleted_at, revision);
    }
    for (const auto& [slice, at] : s.slices_deleted_at) {
      EXPECT_GT(at, revision) << slice;
      EXPECT_LE(at, rewound->now->revision) << slice;
    }
  }
}

// ChangesSince and Rewind from every revision of a random run equal what the listener saw.
TEST(HistoryTest, ChangesSinceRebuildsEveryCommit) {
  FakeClock clock;
  Store store(Opts(&clock));
  RecordingListener listener;
  store.SnapshotAndListen("", &listener);
  Churner churn(11);
  for (int i = 0; i < 300; ++i) {
    churn.Step(store);
    clock.Advance(absl::Milliseconds(3));
  }
  store.RemoveListener(&listener);
  const std::vector<CommitPtr> all = listener.commits();
  ASSERT_GT(all.size(), 200u);
  for (int64_t r = 0; r <= store.revision(); r += 13) {
    absl::StatusOr<std::vector<CommitPtr>> since = store.ChangesSince(r);
    ASSERT_OK(since);
    ExpectSameCommits(*since, After(all, r));
    for (size_t i = 0; i < since->size(); ++i) EXPECT_EQ((*since)[i]->time, After(all, r)[i]->time);
    ExpectRewound(store, all, r);
  }
  absl::StatusOr<std::vector<CommitPtr>> first = store.ChangesSince(10, /*limit=*/3);
  ASSERT_OK(first);
  std::vector<CommitPtr> expected = After(all, 10);
  expected.resize(3);
  ExpectSameCommits(*first, expected);
}

class RestartTest : public ::testing::Test {
 protected:
  // REQUIRES: the store of the previous Open is gone (it uses rocks_).
  std::unique_ptr<Store> Open(int64_t history = 100'000) {
    rocks_.reset();
    absl::StatusOr<std::unique_ptr<storage::RocksDbStorage>> s = storage::RocksDbStorage::Open(
        {.path = dir_.path(), .sync = storage::RocksDbStorage::SyncMode::kNone,
         .history_size = history});
    EXPECT_OK(s);
    if (!s.ok()) return nullptr;
    rocks_ = std::move(*s);
    Store::Options o = Opts(&clock_, rocks_.get());
    o.history_size = history;
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(o);
    EXPECT_OK(store);
    return store.ok() ? std::move(*store) : nullptr;
  }

  FakeClock clock_;
  storage::testing::TempDir dir_;
  std::unique_ptr<storage::RocksDbStorage> rocks_;
};

// A restart reads the same keys whether 100 or 1 000 commits came before it (and no history
// record); resuming from a revision before the restart reads the records after it from disk and
// yields exactly the commits made before the restart; from before the window, OUT_OF_RANGE.
TEST_F(RestartTest, RestartReadsTheLiveStateOnly) {
  std::unique_ptr<Store> s = Open();
  ASSERT_NE(s, nullptr);
  std::vector<v1::EndpointChange> fill;
  for (int i = 0; i < 40; ++i) {
    for (const char* service : kServices) fill.push_back(Upsert("ns", service, Ip(i)));
  }
  ASSERT_OK(s->ApplyChanges(fill));
  RecordingListener listener;
  s->SnapshotAndListen("", &listener);
  // Each step changes one endpoint's readiness: a (service, ip) pair comes back every 120 steps,
  // with the other readiness.
  int step = 0;
  auto flip = [&](int n) {
    for (int end = step + n; step < end; ++step) {
      ASSERT_OK(s->ApplyChanges(std::vector<v1::EndpointChange>{
          Upsert("ns", kServices[step % 3], Ip(step % 40), (step / 120) % 2 == 1)}));
    }
  };
  flip(100);
  s->RemoveListener(&listener);
  s.reset();
  s = Open();
  ASSERT_NE(s, nullptr);
  const storage::StorageStats after_100 = s->storage_stats();
  EXPECT_EQ(after_100.load_history_records, 0);
  EXPECT_EQ(s->history_usage().first, 0);  // nothing of the history in memory
  // Resume across the restart: read from disk, equal to what was committed before it.
  const int64_t r = listener.commits()[40]->revision;
  absl::StatusOr<std::vector<CommitPtr>> since = s->ChangesSince(r);
  ASSERT_OK(since);
  ExpectSameCommits(*since, After(listener.commits(), r));
  ExpectRewound(*s, listener.commits(), r);
  EXPECT_EQ(s->storage_stats().history_records_read, 2 * (s->revision() - r));

  s->SnapshotAndListen("", &listener);
  flip(900);
  s->RemoveListener(&listener);
  s.reset();
  s = Open();
  ASSERT_NE(s, nullptr);
  ASSERT_GE(s->revision(), 1000);  // every step was a commit
  const storage::StorageStats after_1000 = s->storage_stats();
  EXPECT_EQ(after_1000.load_keys, after_100.load_keys);
  EXPECT_LT(after_1000.load_bytes, after_100.load_bytes * 11 / 10);
  EXPECT_EQ(after_1000.load_history_records, 0);
  ASSERT_OK(s->ChangesSince(r));

  // A window of 50 commits: older resumes are OUT_OF_RANGE, newer ones still exact.
  s.reset();
  s = Open(/*history=*/50);
  ASSERT_NE(s, nullptr);
  ASSERT_OK(rocks_->TrimHistoryNow());
  EXPECT_THAT(s->ChangesSince(r), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("compacted")));
  EXPECT_THAT(s->Rewind("", {}, r), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("compacted")));
  const int64_t recent = s->revision() - 30;
  since = s->ChangesSince(recent);
  ASSERT_OK(since);
  ExpectSameCommits(*since, After(listener.commits(), recent));
  EXPECT_EQ(s->history_floor(), s->revision() - 50);
}

}  // namespace
}  // namespace slicekeeper::store
