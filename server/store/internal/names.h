// Store internals: the slice-name index of the writer side, and random identifiers.
//
// Slice names are unique in a namespace across services and managers. The index records, for every
// name in use (or reserved by a request in flight), the service that owns it and whether the slice
// is managed (distributed by slicekeeper) or foreign. It reflects writer state, which may be ahead
// of the published state; readers use the sequencer's published index instead.
//
// Generated names follow the apiserver's generateName: the base truncated to 58 characters plus 5
// random characters of [a-z0-9] (docs/kubernetes-behaviour.md §3.7). Uids are random RFC 4122
// version-4 UUIDs.
//
// Thread-safety: every method is safe to call concurrently. Its mutex is a leaf lock.
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_NAMES_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_NAMES_H_

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace slicekeeper::store::internal {

class NameIndex {
 public:
  struct Owner {
    std::string service;
    bool managed = true;
  };

  // Reserves and returns a fresh name `<generate_name truncated to 58><5 random>` for a slice of
  // `service`, managed (distributed by slicekeeper) or foreign.
  std::string Reserve(absl::string_view ns, absl::string_view generate_name,
                      absl::string_view service, bool managed = true) ABSL_LOCKS_EXCLUDED(mu_);

  // Claims `name` for a foreign slice of `service`. Returns true if the name was newly claimed,
  // false if `service` already held it as a foreign slice. Errors: FAILED_PRECONDITION if a
  // managed slice or another service holds it.
  absl::StatusOr<bool> ClaimForeign(absl::string_view ns, absl::string_view name,
                                    absl::string_view service) ABSL_LOCKS_EXCLUDED(mu_);

  std::optional<Owner> Lookup(absl::string_view ns, absl::string_view name) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Records `name` as held by a slice of `service` (recovery). Returns false if it was held
  // already (a name used twice: the caller reports the data as corrupt).
  bool Restore(absl::string_view ns, absl::string_view name, absl::string_view service,
               bool managed) ABSL_LOCKS_EXCLUDED(mu_);

  // Frees `name`; a no-op if it is not in use.
  void Release(absl::string_view ns, absl::string_view name) ABSL_LOCKS_EXCLUDED(mu_);

  std::string NewUid() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  // Keyed by "namespace/name".
  absl::flat_hash_map<std::string, Owner> owners_ ABSL_GUARDED_BY(mu_);
  absl::BitGen gen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_NAMES_H_
