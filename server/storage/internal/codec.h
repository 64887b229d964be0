// Storage internals: the keys and values of RocksDbStorage (docs/storage.md), as pure functions.
// Every decoder treats its input as untrusted: anything unparsable is DATA_LOSS naming the key.
//
// Thread-safety: stateless functions.
#ifndef SLICEKEEPER_SERVER_STORAGE_INTERNAL_CODEC_H_
#define SLICEKEEPER_SERVER_STORAGE_INTERNAL_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/storage/storage.h"

namespace slicekeeper::storage::internal {

inline constexpr char kFormatKey[] = "m/format";
// Bumped on any change old binaries cannot read.
inline constexpr char kFormatVersion[] = "1";
inline constexpr char kServicePrefix[] = "r/";
inline constexpr char kSlicePrefix[] = "s/";
inline constexpr char kNodesKey[] = "n/";
inline constexpr char kHistoryPrefix[] = "h/";

std::string ServiceKey(absl::string_view ns, absl::string_view name);
std::string SliceKey(absl::string_view ns, absl::string_view service, absl::string_view slice);
// "h/" + the revision as 8 big-endian bytes, so keys sort by revision.
std::string HistoryKey(int64_t revision);

// Splits "r/<ns>/<svc>" into {ns, svc}; "s/<ns>/<svc>/<slice>" into {ns, svc, slice}; parses
// "h/<8 bytes>". Errors: DATA_LOSS.
absl::StatusOr<std::vector<std::string>> SplitKey(absl::string_view key, absl::string_view prefix,
                                                  int parts);
absl::StatusOr<int64_t> ParseHistoryKey(absl::string_view key);

std::string EncodeService(const ServiceWrite& w);
// Fills record and mod_revision of `out`.
absl::Status DecodeService(absl::string_view key, absl::string_view value, StoredService& out);

std::string EncodeSlice(const Slice& slice);
// The slice, checked to be named `name` (its key). Errors: DATA_LOSS.
absl::StatusOr<SlicePtr> DecodeSlice(absl::string_view key, absl::string_view name,
                                     absl::string_view value);

std::string EncodeNodes(const std::vector<v1::Node>& nodes);
absl::StatusOr<std::vector<v1::Node>> DecodeNodes(absl::string_view value);

std::string EncodeHistory(const CommitRecord& commit);
absl::StatusOr<HistoryEntry> DecodeHistory(absl::string_view key, absl::string_view value);

}  // namespace slicekeeper::storage::internal

#endif  // SLICEKEEPER_SERVER_STORAGE_INTERNAL_CODEC_H_
