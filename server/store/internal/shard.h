// Store internals: the per-service writer state and the shard that holds it.
//
// A shard has two mutexes. `write_mu` guards the writer state of its services (reconciler state,
// record, foreign slices, the last committed snapshot); it is held for a whole reconcile. `read_mu`
// guards the *published* snapshot map; it is held only to copy or swap a pointer, so readers never
// wait for a reconcile.
//
// Lock order (store.h): shard write locks in ascending shard index, then the sequencer lock, then a
// shard's read lock. NameIndex's lock is a leaf taken under shard write locks.
//
// Thread-safety: as annotated.
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_SHARD_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_SHARD_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/namespaced_name.h"
#include "common/slice.h"
#include "server/reconcile/reconciler.h"
#include "server/store/store.h"

namespace slicekeeper::store::internal {

// The key of a service in the shards: common/namespaced_name.h.
inline std::string ServiceKey(absl::string_view ns, absl::string_view name) {
  return NamespacedName(ns, name);
}

// The writer-side state of one service. Guarded by its shard's write_mu.
struct ServiceEntry {
  std::string namespace_;
  std::string name;
  // Null when the service has only foreign slices.
  std::shared_ptr<const v1::ServiceRecord> record;
  // The managed slices and their indexes.
  reconcile::ServiceState state;
  // Slices written whole by other managers, by name.
  absl::flat_hash_map<std::string, SlicePtr> foreign;
  int64_t foreign_endpoints = 0;
  // From the last plan: the ideal slice count (0 without a record).
  int64_t desired_slices = 0;
  // The last committed snapshot (published, or about to be published in revision order).
  ServiceSnapshotPtr latest;

  bool empty() const { return record == nullptr && foreign.empty(); }
  int64_t endpoint_count() const { return state.endpoint_count() + foreign_endpoints; }
};

struct Shard {
  absl::Mutex write_mu;
  // Keyed by ServiceKey.
  absl::flat_hash_map<std::string, std::unique_ptr<ServiceEntry>> services
      ABSL_GUARDED_BY(write_mu);

  mutable absl::Mutex read_mu;
  // Published snapshots, keyed by ServiceKey. Never holds null.
  absl::flat_hash_map<std::string, ServiceSnapshotPtr> published ABSL_GUARDED_BY(read_mu);
};

inline size_t ShardIndex(absl::string_view service_key, size_t num_shards) {
  return absl::Hash<absl::string_view>()(service_key) % num_shards;
}

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_SHARD_H_
