// Storage internals: the keys and values of RocksDbStorage (docs/storage.md), as pure functions.
// Every decoder treats its input as untrusted: anything unparsable is DATA_LOSS naming the key.
//
// Thread-safety: stateless functions.
#ifndef SLICEKEEPER_SERVER_STORAGE_INTERNAL_CODEC_H_
#define SLICEKEEPER_SERVER_STORAGE_INTERNAL_CODEC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/storage/storage.h"

namespace slicekeeper::storage::internal {

inline constexpr char kFormatKey[] = "m/format";
// Bumped on any change old binaries cannot read. 2: the history in its own column family, as
// the store's compact records (format 1 kept whole slice versions under h/ keys).
inline constexpr char kFormatVersion[] = "2";
inline constexpr int kFormatVersionNumber = 2;
// Keys of the default column family.
inline constexpr char kMetaPrefix[] = "m/";
inline constexpr char kServicePrefix[] = "r/";
inline constexpr char kSlicePrefix[] = "s/";
inline constexpr char kNodesKey[] = "n/";
// Format 1's history keys ("h/" + 8-byte revision), dropped by the upgrade to format 2.
inline constexpr char kLegacyHistoryPrefix[] = "h/";

std::string ServiceKey(absl::string_view ns, absl::string_view name);
std::string SliceKey(absl::string_view ns, absl::string_view service, absl::string_view slice);

// Splits "r/<ns>/<svc>" into {ns, svc}; "s/<ns>/<svc>/<slice>" into {ns, svc, slice}.
// Errors: DATA_LOSS.
absl::StatusOr<std::vector<std::string>> SplitKey(absl::string_view key, absl::string_view prefix,
                                                  int parts);

std::string EncodeService(const ServiceWrite& w);
// Fills record and mod_revision of `out`.
absl::Status DecodeService(absl::string_view key, absl::string_view value, StoredService& out);

// The slice's bytes as every reader gets them (Slice::SerializedProto, computed from `prev`'s
// where they share endpoints when `prev` is given): a committed version is serialized once for
// storage and watchers.
std::shared_ptr<const std::string> EncodeSlice(const Slice& slice, const Slice* prev = nullptr);
// The slice, checked to be named `name` (its key). Errors: DATA_LOSS.
absl::StatusOr<SlicePtr> DecodeSlice(absl::string_view key, absl::string_view name,
                                     absl::string_view value);

std::string EncodeNodes(const std::vector<v1::Node>& nodes);
absl::StatusOr<std::vector<v1::Node>> DecodeNodes(absl::string_view value);

}  // namespace slicekeeper::storage::internal

#endif  // SLICEKEEPER_SERVER_STORAGE_INTERNAL_CODEC_H_
