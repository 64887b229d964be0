// Store internals: the state shared by every request — shards, names, the sequencer, the
// revision counter and the node registry. `Store` is a thin facade over it.
//
// Thread-safety: the members synchronize themselves, as annotated.
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_CORE_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_CORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/storage/storage.h"
#include "server/store/internal/committer.h"
#include "server/store/internal/names.h"
#include "server/store/internal/proposals.h"
#include "server/store/internal/sequencer.h"
#include "server/store/internal/shard.h"
#include "server/store/store.h"

namespace slicekeeper::store::internal {

using NodeList = std::vector<v1::Node>;

// Replicated stores: how long a write waits for this replica to apply a revision (its own, or
// one it conflicted with) before it gives up with UNAVAILABLE.
inline constexpr absl::Duration kApplyWait = absl::Seconds(10);

struct Core {
  explicit Core(Store::Options opts)
      : options(std::move(opts)),
        clock(options.clock != nullptr ? options.clock : RealClock()),
        shards(MakeShards(options.shards)),
        storage(options.storage),
        replicated(storage != nullptr ? storage->replicated() : nullptr),
        sequencer(shards, options.history_size, options.history_bytes),
        recovered(options.storage == nullptr),
        committer(storage != nullptr && replicated == nullptr && storage->group_commit()
                      ? std::make_unique<Committer>(storage, &sequencer)
                      : nullptr),
        proposals(replicated != nullptr ? std::make_unique<Proposals>(&sequencer, kApplyWait)
                                        : nullptr) {}

  // Calls `done` once `revision` is visible (and durable): inline, unless a group commit is in
  // progress (then on the committer's thread). REQUIRES: `revision` was handed out.
  void WhenCommitted(int64_t revision, Committer::Done done) {
    if (committer == nullptr) {
      done(absl::OkStatus());  // published before the write returned
    } else {
      committer->WhenPublished(revision, std::move(done));
    }
  }
  absl::Status AwaitCommitted(int64_t revision) {
    return committer == nullptr ? absl::OkStatus() : committer->AwaitPublished(revision);
  }

  Shard* ShardFor(absl::string_view service_key) const {
    return shards[ShardIndex(service_key, shards.size())].get();
  }
  std::shared_ptr<const NodeList> nodes_snapshot() const ABSL_LOCKS_EXCLUDED(nodes_mu) {
    absl::MutexLock l(&nodes_mu);
    return nodes;
  }
  // The node registry with the revision of its last change (replicated stores; else 0).
  std::pair<std::shared_ptr<const NodeList>, int64_t> nodes_with_revision() const
      ABSL_LOCKS_EXCLUDED(nodes_mu) {
    absl::MutexLock l(&nodes_mu);
    return {nodes, nodes_revision};
  }

  static std::vector<std::unique_ptr<Shard>> MakeShards(int n) {
    std::vector<std::unique_ptr<Shard>> out;
    for (int i = 0; i < std::max(n, 1); ++i) out.push_back(std::make_unique<Shard>());
    return out;
  }

  // Immutable after construction.
  const Store::Options options;
  Clock* const clock;
  const std::vector<std::unique_ptr<Shard>> shards;
  // Not owned; null: nothing is persisted.
  storage::Storage* const storage;
  // `storage` when it is shared by replicas (etcd): commits are proposed to it and applied when
  // its log delivers them (internal/replica.h). Null otherwise.
  storage::ReplicatedStorage* const replicated;

  NameIndex names;
  Sequencer sequencer;
  // The last revision handed out. Incremented only with the shard write locks of the commit
  // held, so per service, revision order is commit order.
  std::atomic<int64_t> last_assigned{0};
  // False until the persisted state was loaded (Store::Open); a store with storage refuses writes
  // before that, so it never overwrites data it has not read.
  std::atomic<bool> recovered;
  // Group commit (storage->group_commit()): publishes commits once they are durable. Null
  // otherwise: writers publish their own commits. Declared after the shards and the sequencer it
  // publishes to, so it stops before they are destroyed.
  const std::unique_ptr<Committer> committer;
  // Replicated stores: the pipelined writes in flight (internal/proposals.h). Null otherwise.
  // Declared after the sequencer it reads; the store stops following before it is destroyed.
  const std::unique_ptr<Proposals> proposals;

  mutable absl::Mutex nodes_mu;
  // Replaced (never mutated) by PutNodes while it holds every shard write lock, so a writer holding
  // any shard lock sees one node list for its whole request.
  std::shared_ptr<const NodeList> nodes ABSL_GUARDED_BY(nodes_mu) =
      std::make_shared<const NodeList>();
  int64_t nodes_revision ABSL_GUARDED_BY(nodes_mu) = 0;
};

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_CORE_H_
