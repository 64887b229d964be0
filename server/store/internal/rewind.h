// Store internals: reading the history back. The state of services at an earlier revision (a
// watcher's resume point), or the commits since it, is rebuilt by undoing history records
// (internal/delta.h) newest first from the published state: the in-memory window's records, then
// — below the window's floor — storage's (Storage::ScanHistory), so a resume from before a restart
// reads the disk only then, and only the records after its revision.
//
// Cost: O(records after the revision + the slices they touched); Rewind keeps one version of each
// changed service at a time, ChangesSince keeps the commits it returns. No store lock is held
// while records are decoded or read from storage.
//
// Thread-safety: functions over a Core; safe to call concurrently with everything else.
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_REWIND_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_REWIND_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/store/internal/core.h"
#include "server/store/store.h"

namespace slicekeeper::store::internal {

// Store::Rewind: see store.h.
absl::StatusOr<Rewound> Rewind(const Core& core, absl::string_view ns,
                               absl::Span<const std::string> services, int64_t revision);

// Store::ChangesSince: see store.h.
absl::StatusOr<std::vector<CommitPtr>> ChangesSince(const Core& core, int64_t revision,
                                                    size_t limit);

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_REWIND_H_
