// PATCH documents applied to an object's JSON (private to server/k8s):
//   - JSON merge patch (RFC 7386, application/merge-patch+json): objects merge key by key, null
//     removes a key, anything else replaces;
//   - strategic merge patch (application/strategic-merge-patch+json, what `kubectl apply`,
//     `edit` and `patch` send by default): for EndpointSlices every list is atomic and every map
//     a plain map, so it is the merge patch, as long as it carries no "$..." directive (those of
//     lists with merge keys, e.g. ownerReferences, are refused rather than misapplied);
//   - JSON patch (RFC 6902, application/json-patch+json): add, remove, replace, move, copy, test.
//
// Thread-safety: stateless functions.
#ifndef SLICEKEEPER_SERVER_K8S_INTERNAL_PATCH_H_
#define SLICEKEEPER_SERVER_K8S_INTERNAL_PATCH_H_

#include "absl/status/status.h"
#include "google/protobuf/struct.pb.h"

namespace slicekeeper::k8s::internal {

// Errors: none (any JSON is a merge patch).
void MergePatch(const google::protobuf::Value& patch, google::protobuf::Value* target);

// Errors: INVALID_ARGUMENT naming the "$..." key found.
absl::Status StrategicMergePatch(const google::protobuf::Value& patch,
                                 google::protobuf::Value* target);

// Errors: INVALID_ARGUMENT for a malformed patch, a path that does not resolve, or a failed test.
absl::Status JsonPatch(const google::protobuf::Value& patch, google::protobuf::Value* target);

}  // namespace slicekeeper::k8s::internal

#endif  // SLICEKEEPER_SERVER_K8S_INTERNAL_PATCH_H_
