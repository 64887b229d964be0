// Store internals: the store's own accounting of the memory its objects take (Store::memory_usage,
// the slicekeeper_store_memory_bytes gauges): live slices and their endpoints, service
// snapshots, the reconciler's indexes, cached serialized slices and the history window.
//
// Thread-safety: safe to call concurrently with writes (reads published snapshots; takes each
// shard's write lock only to size that shard's writer state).
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_MEMORY_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_MEMORY_H_

#include "server/store/internal/core.h"
#include "server/store/store.h"

namespace slicekeeper::store::internal {

MemoryUsage MeasureMemory(const Core& core);

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_MEMORY_H_
