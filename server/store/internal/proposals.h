// Store internals, replicated stores (etcd): the pipelined writes this replica proposed and has
// not applied yet (Store::ApplyChangesAsync, i.e. the batches of StreamChanges streams).
//
// A synchronous write holds its shard locks across the log's round trip and then waits for the
// follower, so a stream that applies one batch at a time gets one batch per round trip
// (latency-bound). A pipelined write instead reconciles under its shard locks,
// queues its proposal (ReplicatedStorage::ProposeAsync), releases the locks and returns: the
// stream's next batch is reconciled while this one travels, and the proposals queued meanwhile go
// out together as one Txn (the storage's group commit). The write is acknowledged, as a
// synchronous one, once this replica applied its revision.
//
// The writer state of a service changes only when the follower applies the log, so a write of a
// service whose proposal is still in flight would reconcile from stale state and be refused by the
// log's guard. So a pipelined write marks the services it proposes busy (Begin) until its revision
// is applied here or it failed, and the next pipelined write of any of them waits first
// (AwaitIdle): per service, this replica's pipelined writes reach the log in the order they were
// made, and only another replica's write can make one conflict. A conflicting write is retried on
// this component's thread as a synchronous write (Retry), its services busy until it is done; so,
// and only then, a stream's later batch of another service may commit before an earlier one.
//
// A write whose revision is not applied within `apply_wait` (the follower stopped) fails with
// UNAVAILABLE, as a synchronous write does.
//
// Thread-safety: every method is safe to call concurrently. Callbacks run with no lock of this
// component held, on the follower's thread (Published), this component's thread, or inline in
// WhenApplied; they must not block, except Retry's tasks, which may.
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_PROPOSALS_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_PROPOSALS_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/store/internal/sequencer.h"

namespace slicekeeper::store::internal {

class Proposals {
 public:
  // Called once with OK, or with UNAVAILABLE when the write cannot be completed.
  using Done = std::function<void(absl::Status)>;

  // `sequencer` must outlive this. Starts the thread.
  Proposals(const Sequencer* sequencer, absl::Duration apply_wait);
  // Waits until every proposal begun was decided (WhenApplied or Retry; the storage decides each
  // within its own timeout), then fails what still waits with UNAVAILABLE and stops the thread.
  // REQUIRES: the follower stopped.
  ~Proposals();
  Proposals(const Proposals&) = delete;
  Proposals& operator=(const Proposals&) = delete;

  // Blocks until no proposal of this replica in flight writes any of `keys` (service keys).
  // REQUIRES: no shard lock held (the follower needs them to apply what is waited for).
  void AwaitIdle(absl::Span<const std::string> keys) ABSL_LOCKS_EXCLUDED(mu_);

  // Marks `keys` busy for a proposal about to be queued; exactly one WhenApplied or Retry with
  // the same keys follows.
  void Begin(absl::Span<const std::string> keys) ABSL_LOCKS_EXCLUDED(mu_);

  // The proposal of `keys` is in the log at `revision`: calls `done(OK)` once this replica
  // published `revision` (inline if it has), or `done(UNAVAILABLE)` after `apply_wait`; the keys
  // are idle again just before.
  void WhenApplied(std::vector<std::string> keys, int64_t revision, Done done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The proposal of `keys` was not committed: runs `task(OK)` on this component's thread (it may
  // block: it writes again synchronously), or `task(UNAVAILABLE)` at destruction instead; the keys
  // are idle again once it returned.
  void Retry(std::vector<std::string> keys, Done task) ABSL_LOCKS_EXCLUDED(mu_);

  // The follower published `revision` (and everything below it).
  void Published(int64_t revision) ABSL_LOCKS_EXCLUDED(mu_);

  // Writes begun and not yet done (tests).
  int64_t in_flight() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Waiter {
    std::vector<std::string> keys;
    Done done;
    absl::Time deadline;
  };
  struct Task {
    std::vector<std::string> keys;
    Done task;
  };

  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseLocked(absl::Span<const std::string> keys) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Sequencer* const sequencer_;
  const absl::Duration apply_wait_;

  mutable absl::Mutex mu_;
  // Busy service keys: how many proposals in flight write each.
  absl::flat_hash_map<std::string, int> busy_ ABSL_GUARDED_BY(mu_);
  // Committed proposals waiting for the follower, by revision.
  std::multimap<int64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mu_);
  // Begun and not yet decided (WhenApplied / Retry not yet called).
  int64_t undecided_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_PROPOSALS_H_
