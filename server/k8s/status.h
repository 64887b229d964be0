// metav1.Status: how the Kubernetes API reports a failed request, and the mapping from the store's
// absl::Status codes to it. Messages follow the apiserver's wording, so clients that match on
// reason (client-go's apierrors.IsNotFound, IsConflict, IsResourceExpired, ...) and people who
// read kubectl's output see what a cluster would show.
//
//   store code           HTTP  reason
//   INVALID_ARGUMENT     422   Invalid (details.causes: one per "field: rule" of the message)
//   NOT_FOUND            404   NotFound
//   ALREADY_EXISTS       409   AlreadyExists
//   ABORTED              409   Conflict ("the object has been modified; ...")
//   FAILED_PRECONDITION  409   Conflict (e.g. a slice slicekeeper manages)
//   OUT_OF_RANGE         410   Expired
//   RESOURCE_EXHAUSTED   429   TooManyRequests
//   UNAVAILABLE          503   ServiceUnavailable
//   anything else        500   InternalError
//
// Thread-safety: stateless functions and plain values; safe from any thread.
#ifndef SLICEKEEPER_SERVER_K8S_STATUS_H_
#define SLICEKEEPER_SERVER_K8S_STATUS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace slicekeeper::k8s {

struct StatusCause {
  std::string reason;  // e.g. "FieldValueInvalid"
  std::string message;
  std::string field;   // e.g. "endpoints[0].addresses[0]"
};

// A failed request as the API reports it.
struct ApiError {
  int code = 500;
  std::string reason;  // metav1.StatusReason, e.g. "NotFound"
  std::string message;
  // details: the object's name, and its kind ("EndpointSlice" for Invalid, the resource
  // "endpointslices" otherwise, as the apiserver fills them); empty: no details.
  std::string name;
  std::string group;
  std::string kind;
  std::vector<StatusCause> causes;
  int retry_after_seconds = 0;
};

// The metav1.Status object of `error`, as JSON.
std::string StatusJson(const ApiError& error);

ApiError BadRequest(std::string message);
ApiError MethodNotAllowed();
ApiError NotAcceptable(std::string message);
ApiError UnsupportedMediaType(std::string message);
ApiError ObjectNotFound(absl::string_view name);
// 410 Expired, with `message` (a too old resourceVersion or continue token).
ApiError Expired(std::string message);
// 504 Timeout with cause ResourceVersionTooLarge: `requested` is newer than `current`.
ApiError TooLargeResourceVersion(int64_t requested, int64_t current);
// 429 TooManyRequests, retry after a second.
ApiError TooManyRequests(std::string message);

// The error of a failed store call on the object `name` ("" for collection requests), mapped as
// in the table above.
ApiError FromStatus(const absl::Status& status, absl::string_view name);

}  // namespace slicekeeper::k8s

#endif  // SLICEKEEPER_SERVER_K8S_STATUS_H_
