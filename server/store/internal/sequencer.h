// Store internals: the sequencer publishes commits in strict revision order and owns everything
// that must be read consistently at one revision — the published revision, the bounded commit
// history, the listeners, the totals and the published slice-name index.
//
// A writer takes its revision while holding its shards' write locks, releases them, and calls
// Publish: it waits until every lower revision is published, then swaps its snapshots into the
// shards' published maps (under their read locks), appends the commit to the history, calls the
// listeners, and advances the published revision, all under the sequencer lock. A reader that
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
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
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

  // `shards` must outlive the sequencer. The history keeps at most `history_size` commits and,
  // beyond the newest one, at most `history_bytes` of estimated pinned memory (PinnedBytes).
  Sequencer(absl::Span<const std::unique_ptr<Shard>> shards, int64_t history_size,
            int64_t history_bytes);

  // What a commit in the history keeps alive that the current state no longer holds: the slice
  // versions it replaced (their endpoint-pointer arrays) and the endpoint objects that did not
  // carry over to the next version, counted as kEndpointBytes each. An estimate, computed once
  // per commit in O(endpoints of the slices it rewrote).
  static constexpr int64_t kEndpointBytes = 640;
  static int64_t PinnedBytes(const store::Commit& commit);

  // The retained history: commits and their estimated pinned bytes.
  std::pair<int64_t, int64_t> HistoryUsage() const ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until every revision below `commit->revision` is published, then publishes this one.
  // REQUIRES: revisions are handed out without gaps, each published exactly once; the caller
  // holds no shard write lock.
  void Publish(CommitPtr commit, std::vector<Update> updates, std::vector<NameUpdate> names,
               const Totals& delta) ABSL_LOCKS_EXCLUDED(mu_);

  // Publishes a commit of a replicated store, whose revisions come from the shared log and may
  // have gaps. REQUIRES: one thread (the follower) publishes, in ascending revision order, each
  // revision above the published one.
  void PublishReplicated(CommitPtr commit, std::vector<Update> updates,
                         std::vector<NameUpdate> names, const Totals& delta)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Recovery: sets the published revision, the history (ascending, contiguous, ending at
  // `revision`), the slice-name index and the totals of a store rebuilt from storage.
  // REQUIRES: nothing was published yet; the shards' published maps are already filled.
  void Restore(int64_t revision, std::deque<CommitPtr> history,
               absl::flat_hash_map<std::string, std::string> slice_owner, const Totals& totals)
      ABSL_LOCKS_EXCLUDED(mu_);

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
  absl::StatusOr<std::vector<CommitPtr>> ChangesSince(int64_t revision,
                                                      size_t limit = SIZE_MAX) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct AwaitArg {
    const Sequencer* sequencer;
    int64_t revision;
  };
  // The wait condition: `arg->revision` is published.
  static bool Reached(const AwaitArg* arg);

  CatalogPtr CollectLocked(absl::string_view ns) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void PublishLocked(CommitPtr commit, int64_t pinned_bytes, std::vector<Update> updates,
                     std::vector<NameUpdate> names, const Totals& delta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the oldest commits beyond the count and byte bounds (the newest always stays).
  void TrimHistoryLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  const absl::Span<const std::unique_ptr<Shard>> shards_;
  const int64_t history_size_;
  const int64_t history_bytes_;

  mutable absl::Mutex mu_;
  int64_t published_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<CommitPtr> history_ ABSL_GUARDED_BY(mu_);
  // PinnedBytes of each commit in history_, and their sum.
  std::deque<int64_t> history_pinned_ ABSL_GUARDED_BY(mu_);
  int64_t history_pinned_total_ ABSL_GUARDED_BY(mu_) = 0;
  // Every commit with a revision above this one is in history_ (revisions may have gaps).
  int64_t history_floor_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<CommitListener*> listeners_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> slice_owner_ ABSL_GUARDED_BY(mu_);
  Totals totals_ ABSL_GUARDED_BY(mu_);
  // A copy of published_ for lock-free revision().
  std::atomic<int64_t> published_atomic_{0};
};

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_SEQUENCER_H_
