// Store internals: applying a replicated storage's log (storage::ReplicatedCommit) to a store.
//
// In a replicated store (several slicekeeper replicas over one etcd) writers do not change the
// store themselves: they propose their commit to the log (Txn::Propose), and every replica's
// follower thread applies the log here, revision by revision — the proposer's own commits
// included. Applying locks the shards of the services a revision touches, installs the slices and
// records the log holds, rebuilds the managed state of each touched service from its slices
// (the log says what changed, not the plan that changed it), and publishes the revision through
// the sequencer, so watchers and readers of every replica see the same revisions.
//
// Thread-safety: called by one thread (the follower), concurrently with the store's writers and
// readers.
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_REPLICA_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_REPLICA_H_

#include "absl/status/status.h"
#include "server/storage/storage.h"
#include "server/store/internal/core.h"

namespace slicekeeper::store::internal {

// Applies one revision of the log. Errors: FAILED_PRECONDITION when `commit` is not above the
// published revision (the follower must then stop: the replica is stale).
absl::Status ApplyReplicated(Core& core, const storage::ReplicatedCommit& commit);

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_REPLICA_H_
