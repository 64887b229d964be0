// Store internals: the sequencer publishes commits in strict revision order and owns everything
// that must be read consistently at one revision — the published revision, the in-memory history
// window (internal/history_window.h), the listeners, the totals and the published slice-name
// index.
//
// A writer takes its revision while holding its shards' write locks, releases them, and calls
// Publish: it waits until every lower revision is published, then swaps its snapshots into the
// shards' published maps (under their read locks), appends the commit's history record to the
// window, calls the listeners, and advances the published revision, all under the sequencer lock. A reader that
// needs a view of several services at one revision holds the sequencer lock (shared) while it
// collects snapshot pointers; that is short, and never waits for a reconcile.
//
// Lock order: the sequencer lock, then a shard's read lock. Never taken with it held: shard write
// locks.
//
// Thread-safety: every method is safe to call concurrently.
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_SEQUENCER_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_SEQUENCER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/store/internal/history_window.h"
#include "server/store/internal/shard.h"
#include "server/store/store.h"

namespace slicekeeper::store::internal {

class Sequencer {
 public:
  // A service's new published snapshot; null `after` removes the service.
  struct Update {
    Shard* shard = nullptr;
    std::string key;
    ServiceSnapshotPtr after;
  };
  // The published slice-name index: "namespace/slice" -> owning service key ("" removes).
  struct NameUpdate {
    std::string slice_key;
    std::string service_key;
  };

  // Everything one commit publishes: the commit (for the listeners), its history record (null for
  // an empty commit), the new snapshots, the slice-name index changes and the totals' change.
  struct Publication {
    CommitPtr commit;
    std::shared_ptr<const std::string> delta;
    std::vector<Update> updates;
    std::vector<NameUpdate> names;
    Totals totals;
  };

  // What the history holds after a revision, with the state it leads to (HistorySince).
  struct HistoryView {
    // The selected services at the published revision (now->revision).
    CatalogPtr now;
    // The window's records above the asked revision, ascending, up to now->revision.
    std::vector<HistoryRecord> records;
    // The window's floor: revisions up to it are not in `records` (storage may have them).
    int64_t floor = 0;
  };

  // `shards` must outlive the sequencer. The window keeps at most `history_size` commits and,
  // beyond the newest one, at most `history_bytes` of records (HistoryWindow).
  Sequencer(absl::Span<const std::unique_ptr<Shard>> shards, int64_t history_size,
            int64_t history_bytes);

  // The in-memory window: commits and bytes; its floor.
  std::pair<int64_t, int64_t> HistoryUsage() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t HistoryFloor() const ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until every revision below `p.commit->revision` is published, then publishes this one.
  // REQUIRES: revisions are handed out without gaps, each published exactly once; the caller
  // holds no shard write lock.
  void Publish(Publication p) ABSL_LOCKS_EXCLUDED(mu_);

  // Publishes a commit of a replicated store, whose revisions come from the shared log and may
  // have gaps. REQUIRES: one thread (the follower) publishes, in ascending revision order, each
  // revision above the published one.
  void PublishReplicated(Publication p) ABSL_LOCKS_EXCLUDED(mu_);

  // Recovery: sets the published revision, the slice-name index and the totals of a store
  // rebuilt from storage; the window starts empty above `revision` (older records are read from
  // storage). REQUIRES: nothing was published yet; the shards' published maps are filled.
  void Restore(int64_t revision, absl::flat_hash_map<std::string, std::string> slice_owner,
               const Totals& totals) ABSL_LOCKS_EXCLUDED(mu_);

  // Returns once `revision` (and everything below it) is published.
  void AwaitPublished(int64_t revision) const ABSL_LOCKS_EXCLUDED(mu_);
  // As AwaitPublished, giving up at `deadline`; returns whether `revision` is published.
  bool AwaitPublishedUntil(int64_t revision, absl::Time deadline) const ABSL_LOCKS_EXCLUDED(mu_);

  int64_t revision() const { return published_atomic_.load(std::memory_order_acquire); }
  Totals totals() const ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<std::pair<SlicePtr, int64_t>> GetSlice(absl::string_view ns,
                                                        absl::string_view name) const
      ABSL_LOCKS_EXCLUDED(mu_);
  CatalogPtr Snapshot(absl::string_view ns) const ABSL_LOCKS_EXCLUDED(mu_);
  CatalogPtr SnapshotAndListen(absl::string_view ns, CommitListener* listener)
      ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveListener(CommitListener* listener) ABSL_LOCKS_EXCLUDED(mu_);

  // The window's records above `revision` and the services of `ns` ("" = all; only `names` when
  // both are given) at the published revision, read together. O(selected services + records).
  // Errors: INVALID_ARGUMENT (negative `revision`), OUT_OF_RANGE (`revision` above the published
  // one).
  absl::StatusOr<HistoryView> HistorySince(absl::string_view ns,
                                           absl::Span<const std::string> names,
                                           int64_t revision) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct AwaitArg {
    const Sequencer* sequencer;
    int64_t revision;
  };
  // The wait condition: `arg->revision` is published.
  static bool Reached(const AwaitArg* arg);

  CatalogPtr CollectLocked(absl::string_view ns) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The published snapshots of `names` in `ns`, at the published revision.
  CatalogPtr CollectNamedLocked(absl::string_view ns, absl::Span<const std::string> names) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void PublishLocked(Publication p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  const absl::Span<const std::unique_ptr<Shard>> shards_;

  mutable absl::Mutex mu_;
  int64_t published_ ABSL_GUARDED_BY(mu_) = 0;
  HistoryWindow window_ ABSL_GUARDED_BY(mu_);
  std::vector<CommitListener*> listeners_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> slice_owner_ ABSL_GUARDED_BY(mu_);
  Totals totals_ ABSL_GUARDED_BY(mu_);
  // A copy of published_ for lock-free revision().
  std::atomic<int64_t> published_atomic_{0};
};

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_SEQUENCER_H_
