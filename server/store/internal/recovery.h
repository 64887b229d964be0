// Store internals: rebuilding a store from what its storage loaded (Store::Open).
//
// Services come back with their writer state (reconcile::ServiceState::FromSlices over the
// managed slices, foreign slices by name, the record), published snapshots, slice-name index
// entries and totals; the revision counter continues from the highest persisted revision. The
// history is not read: the in-memory window starts empty above the recovered revision, and older
// records stay in storage until a watcher resumes into them (internal/rewind.h).
//
// Thread-safety: call once, before the store is shared.
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_RECOVERY_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_RECOVERY_H_

#include "absl/status/status.h"
#include "server/storage/storage.h"
#include "server/store/internal/core.h"

namespace slicekeeper::store::internal {

// Fills `core` from `state`. Errors: DATA_LOSS when `state` is inconsistent (a slice name used
// twice in a namespace; managed slices without a record). REQUIRES: `core` is fresh.
absl::Status Recover(Core& core, storage::LoadedState state);

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_RECOVERY_H_
