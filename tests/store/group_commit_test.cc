// Group commit: over a storage that appends and syncs separately, a write is visible and
// acknowledged only once a sync covered it, writes made while a sync runs share the next one, and
// a failed sync acknowledges nothing more and stops the store taking writes.
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/internal/committer.h"
#include "server/store/internal/sequencer.h"
#include "server/store/store.h"
#include "tests/fakes/gated_storage.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::store {
namespace {

using ::slicekeeper::testing::GatedStorage;
using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;
using namespace ::slicekeeper::store::testing;  // NOLINT: test builders

// Collects ApplyChangesAsync results in the order their callbacks ran.
struct Results {
  absl::Mutex mu;
  std::vector<absl::StatusOr<WriteResult>> done ABSL_GUARDED_BY(mu);

  Store::WriteCallback Callback() {
    return [this](absl::StatusOr<WriteResult> r) {
      absl::MutexLock l(&mu);
      done.push_back(std::move(r));
    };
  }
  size_t size() {
    absl::MutexLock l(&mu);
    return done.size();
  }
  std::vector<absl::StatusOr<WriteResult>> Await(size_t n) {
    absl::MutexLock l(&mu);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return done.size() >= n; };
    mu.Await(absl::Condition(&enough));
    return done;
  }
};

std::unique_ptr<Store> Open(storage::Storage* storage) {
  Store::Options options;
  options.storage = storage;
  absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(std::move(options));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

std::vector<v1::EndpointChange> One(const v1::EndpointChange& c) { return {c}; }

TEST(GroupCommitTest, WritesBecomeVisibleAtTheSyncAndShareIt) {
  GatedStorage storage;
  std::unique_ptr<Store> s = Open(&storage);
  ASSERT_NE(s, nullptr);
  Results results;
  storage.Hold();
  s->ApplyChangesAsync(One(Upsert("default", "web", Ip(0))), results.Callback());
  storage.AwaitSyncsStarted(1);  // the first write's sync is running, held
  // Ten more writes to the same service while it runs: each builds on the ones before, none is
  // visible or acknowledged.
  for (int i = 1; i <= 10; ++i) {
    s->ApplyChangesAsync(One(Upsert("default", "web", Ip(i))), results.Callback());
  }
  // A write that changes nothing answers at the revision it saw, once that one is durable.
  s->ApplyChangesAsync(One(Upsert("default", "web", Ip(10))), results.Callback());
  EXPECT_EQ(storage.appended(), 11);
  EXPECT_EQ(results.size(), 0u);
  EXPECT_EQ(s->revision(), 0);
  EXPECT_EQ(s->GetService("default", "web"), nullptr);
  storage.Release();

  std::vector<absl::StatusOr<WriteResult>> done = results.Await(12);
  ASSERT_EQ(done.size(), 12u);
  std::vector<int64_t> revisions;
  for (const auto& r : done) {
    ASSERT_OK(r);
    revisions.push_back(r->revision);
  }
  // Callbacks run in revision order; the no-op write answers at revision 11.
  EXPECT_TRUE(std::is_sorted(revisions.begin(), revisions.end()));
  EXPECT_EQ(revisions.front(), 1);
  EXPECT_EQ(revisions.back(), 11);
  EXPECT_EQ(std::count(revisions.begin(), revisions.end(), 11), 2);
  EXPECT_EQ(s->revision(), 11);
  ServiceSnapshotPtr web = s->GetService("default", "web");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(EndpointCount(*web), 11);
  // One sync for the first write, one for the ten behind it.
  EXPECT_EQ(storage.syncs_started(), 2);

  // Everything acknowledged is on "disk".
  std::unique_ptr<Store> reopened = Open(storage.durable());
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->revision(), 11);
  ASSERT_NE(reopened->GetService("default", "web"), nullptr);
  EXPECT_EQ(EndpointCount(*reopened->GetService("default", "web")), 11);
}

TEST(GroupCommitTest, BlockingWritesReturnOnceVisible) {
  GatedStorage storage;
  std::unique_ptr<Store> s = Open(&storage);
  ASSERT_NE(s, nullptr);
  absl::StatusOr<WriteResult> a = s->ApplyChanges(One(Upsert("default", "web", Ip(1))));
  ASSERT_OK(a);
  EXPECT_GE(s->revision(), a->revision);
  auto slice = s->PutSlice(ForeignSlice("default", "web", "mirror-1", "10.9.0.1"));
  ASSERT_OK(slice);
  EXPECT_GE(s->revision(), slice->second);
  ASSERT_OK(s->GetSlice("default", "mirror-1"));
  absl::StatusOr<int64_t> deleted = s->DeleteSlice("default", "mirror-1");
  ASSERT_OK(deleted);
  EXPECT_GE(s->revision(), *deleted);
  absl::StatusOr<WriteResult> removed = s->DeleteService("default", "web");
  ASSERT_OK(removed);
  EXPECT_EQ(s->revision(), removed->revision);
  EXPECT_EQ(s->GetService("default", "web"), nullptr);
}

TEST(GroupCommitTest, FailedSyncAcknowledgesNothingMoreAndRefusesWrites) {
  GatedStorage storage;
  std::unique_ptr<Store> s = Open(&storage);
  ASSERT_NE(s, nullptr);
  ASSERT_OK(s->ApplyChanges(One(Upsert("default", "web", Ip(1)))));
  const ServiceSnapshotPtr acked = s->GetService("default", "web");
  ASSERT_NE(acked, nullptr);
  EXPECT_TRUE(s->serving());

  Results results;
  storage.Hold();
  storage.FailNextSync();
  s->ApplyChangesAsync(One(Upsert("default", "web", Ip(2))), results.Callback());
  s->ApplyChangesAsync(One(Upsert("default", "web", Ip(3))), results.Callback());
  storage.Release();
  std::vector<absl::StatusOr<WriteResult>> done = results.Await(2);
  for (const auto& r : done) {
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("injected sync failure")));
  }
  // Readers keep the last durable state; the store takes no more writes.
  EXPECT_EQ(s->revision(), 1);
  EXPECT_EQ(s->GetService("default", "web"), acked);
  EXPECT_FALSE(s->serving());
  EXPECT_THAT(s->ApplyChanges(One(Upsert("default", "other", Ip(4)))),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("restarted")));
  EXPECT_EQ(s->GetService("default", "other"), nullptr);

  // A restart finds exactly what was acknowledged and takes writes again.
  std::unique_ptr<Store> reopened = Open(storage.durable());
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->revision(), 1);
  EXPECT_EQ(EndpointCount(*reopened->GetService("default", "web")), 1);
  ASSERT_OK(reopened->ApplyChanges(One(Upsert("default", "web", Ip(2)))));
}

}  // namespace
// The committer calls the waiters of published revisions outside its lock. A waiter registered
// for an already published revision while an earlier one's waiter is still being called (here:
// from inside it, as a pipelining writer's next write can) waits its turn instead of being called
// at once: acknowledgements never overtake each other.
TEST(GroupCommitTest, WaiterOfAPublishedRevisionDoesNotOvertakeOneBeingCalled) {
  GatedStorage storage;
  std::vector<std::unique_ptr<internal::Shard>> shards;
  internal::Sequencer sequencer(shards, /*history_size=*/16, /*history_bytes=*/1 << 20);
  internal::Committer committer(&storage, &sequencer);
  auto publication = [](int64_t revision) {
    auto commit = std::make_shared<Commit>();
    commit->revision = revision;
    internal::Sequencer::Publication p;
    p.commit = std::move(commit);
    return p;
  };
  absl::Mutex mu;
  std::vector<int64_t> order;
  auto record = [&](int64_t revision, absl::Status status) {
    EXPECT_OK(status);
    absl::MutexLock l(&mu);
    order.push_back(revision);
  };
  storage.Hold();
  committer.Submit(publication(1));
  storage.AwaitSyncsStarted(1);  // revision 1's sync runs, held: 2 and 3 share the next round
  committer.Submit(publication(2));
  committer.Submit(publication(3));
  committer.WhenPublished(2, [&](absl::Status status) {
    // Revisions 2 and 3 are both published by now.
    EXPECT_GE(sequencer.revision(), 3);
    committer.WhenPublished(3, [&](absl::Status s) { record(3, std::move(s)); });
    record(2, std::move(status));
  });
  storage.Release();
  absl::MutexLock l(&mu);
  auto both = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return order.size() == 2; };
  mu.Await(absl::Condition(&both));
  EXPECT_THAT(order, ::testing::ElementsAre(2, 3));
}

}  // namespace slicekeeper::store
