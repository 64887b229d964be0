// Writes of EndpointSlices (private to server/k8s), through the same store path and validation
// as EndpointRegistry.PutEndpointSlice / DeleteEndpointSlice (Store::PutSlice / DeleteSlice):
//
//   POST   .../namespaces/{ns}/endpointslices         create (201); 409 AlreadyExists
//   PUT    .../namespaces/{ns}/endpointslices/{name}  replace (200); 404 when missing; 409
//                                                     Conflict when metadata.resourceVersion
//                                                     (or uid) is set and stale
//   PATCH  .../namespaces/{ns}/endpointslices/{name}  merge, strategic merge (as merge) or JSON
//                                                     patch (200), retried on concurrent writes
//   DELETE .../namespaces/{ns}/endpointslices/{name}  (200, the deleted object); DeleteOptions'
//                                                     preconditions honoured
//
// Bodies are JSON (415 otherwise). fieldValidation=Strict rejects fields the model does not have
// (400 "strict decoding error: unknown field ..."); Warn (the default) and Ignore drop them,
// Warn with a Warning header. Invalid objects get 422 Invalid with one cause per field, and
// nothing is applied. Slices are stored per service, so kubernetes.io/service-name is required
// and cannot change on update; slices managed by slicekeeper itself cannot be written (409).
// Server-side dry runs (dryRun=All) are refused with 400 rather than applied.
//
// Thread-safety: stateless functions over a thread-safe Context.
#ifndef SLICEKEEPER_SERVER_K8S_INTERNAL_WRITES_H_
#define SLICEKEEPER_SERVER_K8S_INTERNAL_WRITES_H_

#include "server/http/handler.h"
#include "server/k8s/internal/context.h"

namespace slicekeeper::k8s::internal {

Reply CreateSlice(const Context& ctx, const http::Request& request, absl::string_view ns);
Reply ReplaceSlice(const Context& ctx, const http::Request& request, absl::string_view ns,
                   absl::string_view name);
Reply PatchSlice(const Context& ctx, const http::Request& request, absl::string_view ns,
                 absl::string_view name);
Reply DeleteSlice(const Context& ctx, const http::Request& request, absl::string_view ns,
                  absl::string_view name);

}  // namespace slicekeeper::k8s::internal

#endif  // SLICEKEEPER_SERVER_K8S_INTERNAL_WRITES_H_
