// get and list of EndpointSlices (private to server/k8s), with the apiserver's resourceVersion
// semantics:
//
//   resourceVersion  resourceVersionMatch  list reads
//   unset            unset                 the latest state
//   "0"              unset / NotOlderThan  any state: the latest (this store is never stale)
//   R                unset / NotOlderThan  a state at least as new as R: the latest, once the
//                                          store has reached R (waits up to
//                                          Context::resource_version_wait, then 504 Timeout with
//                                          cause ResourceVersionTooLarge)
//   R                Exact                 the state at exactly R (Store::SnapshotAt); 410 Expired
//                                          once R left the history
//
// Paging: `limit` cuts the list, `continue` resumes it at the first page's revision
// (continue_token.h). metadata.remainingItemCount is set when no selector is used, as the
// apiserver does. Lists are in (namespace, name) order.
//
// Thread-safety: stateless functions over a thread-safe Context.
#ifndef SLICEKEEPER_SERVER_K8S_INTERNAL_READS_H_
#define SLICEKEEPER_SERVER_K8S_INTERNAL_READS_H_

#include <cstdint>
#include <string>

#include "server/http/handler.h"
#include "server/k8s/internal/context.h"

namespace slicekeeper::k8s::internal {

// GET .../endpointslices (ns "" = every namespace), not a watch.
Reply ListSlices(const Context& ctx, const http::Request& request, absl::string_view ns);

// GET .../namespaces/{ns}/endpointslices/{name}.
Reply GetSlice(const Context& ctx, const http::Request& request, absl::string_view ns,
               absl::string_view name);

// Parses a resourceVersion parameter: "" -> 0 (unset), "0" -> 0 with `any` set, else the revision.
// Errors: 400.
struct ResourceVersion {
  bool set = false;  // the parameter was given and not ""
  int64_t revision = 0;
};
ApiOr<ResourceVersion> ParseResourceVersion(const http::Request& request);

// Waits (up to ctx.resource_version_wait) until the store reached `revision`.
// Errors: 504 Timeout with cause ResourceVersionTooLarge.
ApiOr<bool> AwaitResourceVersion(const Context& ctx, int64_t revision);

}  // namespace slicekeeper::k8s::internal

#endif  // SLICEKEEPER_SERVER_K8S_INTERNAL_READS_H_
