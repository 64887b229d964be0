// Concurrent writers, readers and listeners on one store (runs under TSan in CI, label tsan).
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/store/store.h"
#include "tests/fakes/gated_storage.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::store {
namespace {

using namespace ::slicekeeper::store::testing;  // NOLINT: test builders

constexpr int kWriters = 2;
constexpr int kReaders = 2;
constexpr int kBatches = 150;
constexpr int kWindow = 40;  // endpoints kept per service; older ones are removed

// Checks each commit as it is published: revisions arrive one by one, every changed service
// carries the commit's revision, and no slice is newer than its commit.
class CheckingListener : public CommitListener {
 public:
  void OnCommit(const CommitPtr& commit) override {
    absl::MutexLock l(&mu_);
    if (first_ == 0) first_ = commit->revision;
    if (last_ != 0 && commit->revision != last_ + 1) ++errors_;
    last_ = commit->revision;
    ++count_;
    for (const ServiceChange& change : commit->services) {
      if (change.after == nullptr) continue;
      if (change.after->mod_revision != commit->revision) ++errors_;
      for (const SlicePtr& s : change.after->slices) {
        if (s->resource_version > commit->revision) ++errors_;
      }
    }
  }
  int64_t errors() { absl::MutexLock l(&mu_); return errors_; }
  int64_t count() { absl::MutexLock l(&mu_); return count_; }
  int64_t first() { absl::MutexLock l(&mu_); return first_; }

 private:
  absl::Mutex mu_;
  int64_t first_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
};

// Writer `t`'s batch `i`: adds one endpoint to w<t>-a and w<t>-b (and to the shared service) and
// drops the oldest beyond the window, so a consistent catalog has |w<t>-a| == |w<t>-b|.
std::vector<v1::EndpointChange> WriterBatch(int t, int i) {
  const std::string a = absl::StrCat("w", t, "-a"), b = absl::StrCat("w", t, "-b");
  const int64_t id = t * 100'000 + i;
  std::vector<v1::EndpointChange> batch = {Upsert("ns", a, Ip(id)), Upsert("ns", b, Ip(id)),
                                           Upsert("ns", "shared", Ip(id))};
  if (i >= kWindow) {
    batch.push_back(Remove("ns", a, Ip(id - kWindow)));
    batch.push_back(Remove("ns", b, Ip(id - kWindow)));
  }
  return batch;
}

// Writer `t`'s batches, each applied before the next.
void Write(Store& store, int t) {
  for (int i = 0; i < kBatches; ++i) {
    absl::StatusOr<WriteResult> r = store.ApplyChanges(WriterBatch(t, i));
    EXPECT_OK(r);
  }
}

// Write's batches through ApplyChangesAsync, pipelined as a StreamChanges stream does: each
// result arrives once its write is visible, in revision order, and every one arrives.
void WriteAsync(Store& store, int t) {
  absl::Mutex mu;
  int done = 0;
  int64_t last_revision = 0;
  for (int i = 0; i < kBatches; ++i) {
    store.ApplyChangesAsync(WriterBatch(t, i), [&](absl::StatusOr<WriteResult> r) {
      EXPECT_OK(r);
      absl::MutexLock l(&mu);
      if (r.ok()) {
        EXPECT_GT(r->revision, last_revision);
        // Visible when acknowledged.
        EXPECT_GE(store.revision(), r->revision);
        last_revision = r->revision;
      }
      ++done;
    });
  }
  absl::MutexLock l(&mu);
  auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return done == kBatches; };
  mu.Await(absl::Condition(&all));
}

// One reader pass; returns the number of violated invariants.
int64_t CheckOnce(const Store& store, int64_t& last_revision) {
  int64_t errors = 0;
  CatalogPtr catalog = store.Snapshot();
  if (catalog->revision < last_revision) ++errors;
  last_revision = catalog->revision;
  absl::flat_hash_map<std::string, int64_t> counts;
  for (const ServiceSnapshotPtr& s : catalog->services) {
    if (s->mod_revision > catalog->revision) ++errors;
    for (const SlicePtr& slice : s->slices) {
      if (slice->resource_version > catalog->revision) ++errors;
    }
    counts[s->name] = EndpointCount(*s);
  }
  for (int t = 0; t < kWriters; ++t) {
    if (counts[absl::StrCat("w", t, "-a")] != counts[absl::StrCat("w", t, "-b")]) ++errors;
  }
  // Single reads: revision() read before a snapshot never exceeds the snapshot's state.
  const int64_t revision_before = store.revision();
  ServiceSnapshotPtr shared = store.GetService("ns", "shared");
  if (shared != nullptr) {
    // Writers add one "shared" endpoint per commit, so every commit up to revision_before is in it.
    if (EndpointCount(*shared) < revision_before) ++errors;
    auto slice = store.GetSlice("ns", shared->slices.front()->name);
    if (slice.ok() && slice->first->resource_version > slice->second) ++errors;
  }
  return errors;
}

// Writers on different (and one shared) service, readers and listeners: commits arrive strictly
// in order, no read sees a slice newer than its revision, and every catalog is consistent.
void RunWritersReadersListeners(Store& store, bool async) {
  CheckingListener from_start;
  store.SnapshotAndListen("", &from_start);
  CheckingListener late;
  CatalogPtr late_catalog;
  absl::Barrier start(kWriters + kReaders + 1);
  absl::Notification writers_done;
  std::atomic<int64_t> reader_errors{0};

  std::vector<std::thread> writers, readers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      start.Block();
      if (async) {
        WriteAsync(store, t);
      } else {
        Write(store, t);
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      start.Block();
      int64_t last_revision = 0;
      do {
        reader_errors += CheckOnce(store, last_revision);
      } while (!writers_done.HasBeenNotified());
    });
  }
  start.Block();
  // Registered while writers run: the listener's first commit follows its catalog directly.
  late_catalog = store.SnapshotAndListen("", &late);
  for (std::thread& w : writers) w.join();
  writers_done.Notify();
  for (std::thread& r : readers) r.join();
  store.RemoveListener(&from_start);
  store.RemoveListener(&late);

  EXPECT_EQ(reader_errors.load(), 0);
  EXPECT_EQ(from_start.errors(), 0);
  EXPECT_EQ(from_start.count(), kWriters * kBatches);
  EXPECT_EQ(store.revision(), kWriters * kBatches);
  EXPECT_EQ(late.errors(), 0);
  EXPECT_EQ(late.count(), store.revision() - late_catalog->revision);
  if (late.count() > 0) {
    EXPECT_EQ(late.first(), late_catalog->revision + 1);
  }
  EXPECT_EQ(EndpointCount(*store.GetService("ns", "shared")), kWriters * kBatches);
  EXPECT_EQ(EndpointCount(*store.GetService("ns", "w0-a")), kWindow);
  int64_t last = 0;
  EXPECT_EQ(CheckOnce(store, last), 0);
}

TEST(StoreConcurrencyTest, WritersReadersListeners) {
  Store store(Store::Options{});
  RunWritersReadersListeners(store, /*async=*/false);
}

// The same over a group-commit storage with pipelined writers: the committer publishes for
// everyone, and a store reopened over what was synced holds every acknowledged write.
TEST(StoreConcurrencyTest, WritersReadersListenersOverGroupCommit) {
  ::slicekeeper::testing::GatedStorage storage;
  Store::Options options;
  options.storage = &storage;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  ASSERT_OK(store);
  RunWritersReadersListeners(**store, /*async=*/true);
  Store::Options durable;
  durable.storage = storage.durable();
  absl::StatusOr<std::unique_ptr<Store>> reopened = Store::Open(durable);
  ASSERT_OK(reopened);
  EXPECT_EQ((*reopened)->revision(), (*store)->revision());
  EXPECT_EQ(EndpointCount(*(*reopened)->GetService("ns", "shared")), kWriters * kBatches);
}

}  // namespace
}  // namespace slicekeeper::store
