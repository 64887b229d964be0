// Store internals: the history record of one commit, an *undo delta* (internal/history.proto,
// docs/storage.md "History records"). A commit encodes what it changed once, at commit time; the
// same bytes go to the in-memory history window and to storage, and both budgets count them. A
// watcher's resume (or ChangesSince) decodes the records it needs, newest first, and undoes them
// from the current state.
//
// Size is proportional to the change, not to the slices it touched: an endpoint object that is in
// both versions of a slice is referenced by position; only endpoints that did not carry over, the
// metadata entries that changed and a few numbers are stored. A deleted slice is stored whole (its
// deletion removed all of it).
//
// Thread-safety: stateless functions; a Delta is immutable after Parse.
//
// Example:
//   std::string bytes = EncodeDelta(record);                 // at commit
//   SK_ASSIGN_OR_RETURN(Delta d, Delta::Parse(bytes));       // at resume
//   SK_ASSIGN_OR_RETURN(ServiceSnapshotPtr before, d.Undo(0, after));
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_DELTA_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_DELTA_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/storage/storage.h"
#include "server/store/internal/history.pb.h"
#include "server/store/store.h"

namespace slicekeeper::store::internal {

// The undo delta of `commit`: per service, `undo` and the slice versions it wrote (`slices` and
// `undo.slices`, matched by name). REQUIRES: the slices' resource versions are stamped.
std::string EncodeDelta(const storage::CommitRecord& commit);

class Delta {
 public:
  // Errors: DATA_LOSS when `bytes` do not parse as a CommitDelta.
  static absl::StatusOr<Delta> Parse(absl::string_view bytes);

  int64_t revision() const { return proto_.revision(); }
  absl::Time time() const { return absl::FromUnixNanos(proto_.time_unix_nanos()); }
  int services() const { return proto_.services_size(); }
  const ServiceDelta& service(int i) const { return proto_.services(i); }

  // The snapshot of service `i` before the commit, given its snapshot `after` it (null: the
  // commit removed it). Unchanged slices are `after`'s own objects; a rewritten slice shares the
  // endpoint objects the two versions have in common. Returns null when the service did not exist
  // before. Errors: DATA_LOSS when `after` is not the state the delta was taken against (a
  // rewritten slice missing from it, a run beyond its endpoints) or a stored slice does not parse.
  absl::StatusOr<ServiceSnapshotPtr> Undo(int i, const ServiceSnapshotPtr& after) const;

 private:
  CommitDelta proto_;
};

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_DELTA_H_
