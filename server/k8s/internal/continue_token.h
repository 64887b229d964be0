// Continue tokens of paged lists, in the apiserver's format: the unpadded web-safe base64 of
// {"v":"meta.k8s.io/v1","rv":<revision>,"start":"<namespace>/<name>\u0000"} — the revision the
// first page was read at, and the key after which the next page starts. Tokens are stateless:
// any replica serves the next page by reading the store at that revision (Store::SnapshotAt),
// and a token whose revision left the history gets 410 Expired, as from etcd after compaction.
// Private to server/k8s.
//
// Thread-safety: stateless functions.
#ifndef SLICEKEEPER_SERVER_K8S_INTERNAL_CONTINUE_TOKEN_H_
#define SLICEKEEPER_SERVER_K8S_INTERNAL_CONTINUE_TOKEN_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slicekeeper::k8s::internal {

struct ContinuePoint {
  int64_t revision = 0;
  // The last key of the previous page.
  std::string ns;
  std::string name;
};

std::string EncodeContinue(const ContinuePoint& point);
// Errors: INVALID_ARGUMENT "continue key is not valid: ..." for anything but a token of ours.
absl::StatusOr<ContinuePoint> DecodeContinue(absl::string_view token);

}  // namespace slicekeeper::k8s::internal

#endif  // SLICEKEEPER_SERVER_K8S_INTERNAL_CONTINUE_TOKEN_H_
