// Committer: group commit for a store over a storage that splits Commit into Append + Sync
// (RocksDB with --sync=always; see storage::Storage::group_commit).
//
// A writer appends its commit to the storage's log while it holds its shard write locks, updates
// the writer state, releases the locks and hands the commit over with Submit. The committer's
// thread takes everything submitted since its last round, makes it durable with ONE Sync, and
// publishes it in revision order; only then are readers, watchers and the writer (WhenPublished)
// told. So a write is never visible, nor acknowledged, before it is durable, and while one Sync
// runs the next round's commits accumulate: one fsync serves every writer of a round, including
// the pipelined batches of a single StreamChanges stream, and no shard lock is held across it.
//
// A failed Sync leaves unknown which appended commits survive, and later commits were computed on
// top of them; so the committer fails for good: every waiting and later write gets UNAVAILABLE,
// nothing more is published (readers keep the last durable state), and the store reports itself
// not serving until it is restarted from storage — what etcd and PostgreSQL do on a failed fsync.
//
// Thread-safety: Submit, WhenPublished, AwaitPublished and status may be called from any thread.
// Callbacks run on the committer's thread (or inline) with no lock held and must not block.
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_COMMITTER_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_COMMITTER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/storage/storage.h"
#include "server/store/internal/sequencer.h"

namespace slicekeeper::store::internal {

class Committer {
 public:
  using Done = std::function<void(absl::Status)>;

  // `storage` and `sequencer` must outlive the committer. REQUIRES: storage->group_commit().
  Committer(storage::Storage* storage, Sequencer* sequencer);
  // Syncs and publishes everything submitted, then stops. REQUIRES: no write is in progress.
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Takes the publication of one revision. Every revision the store hands out is submitted exactly
  // once, after its Append returned (a failed Append submits an empty commit: later revisions wait
  // for it). REQUIRES: the caller holds no shard write lock.
  void Submit(Sequencer::Publication publication) ABSL_LOCKS_EXCLUDED(mu_);

  // Calls `done(OK)` once `revision` is durable and published, or `done(UNAVAILABLE)` if the
  // storage failed first; inline when that is already known.
  void WhenPublished(int64_t revision, Done done) ABSL_LOCKS_EXCLUDED(mu_);
  // Blocking form of WhenPublished.
  absl::Status AwaitPublished(int64_t revision) ABSL_LOCKS_EXCLUDED(mu_);

  // OK, or the UNAVAILABLE error every write gets since a Sync failed.
  absl::Status status() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Calls, outside mu_, every waiter that is decided (published, or the committer failed).
  void Notify() ABSL_LOCKS_EXCLUDED(mu_);

  storage::Storage* const storage_;
  Sequencer* const sequencer_;

  mutable absl::Mutex mu_;
  std::vector<Sequencer::Publication> queue_ ABSL_GUARDED_BY(mu_);
  std::multimap<int64_t, Done> waiters_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // True while Notify calls waiters it took out of waiters_ (outside mu_).
  bool dispatching_ ABSL_GUARDED_BY(mu_) = false;

  // Durable commits waiting for a lower revision; the committer's thread only.
  std::map<int64_t, Sequencer::Publication> synced_;
  std::thread thread_;
};

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_COMMITTER_H_
