// The documents clients read before they touch a resource (private to server/k8s): /version,
// the legacy discovery documents (/api, /api/v1, /apis, /apis/discovery.k8s.io and its v1
// APIResourceList), the OpenAPI v3 index and the discovery.k8s.io/v1 document that tells kubectl
// the server validates fields itself (so `kubectl create -f` sends fieldValidation=Strict instead
// of downloading schemas), and the core namespaces, read-only and derived from the store (a
// namespace exists while a service in it does). Aggregated discovery is not served: kubectl
// 1.32 asks for it and falls back to these documents, as against an older apiserver.
//
// Thread-safety: stateless functions over a thread-safe Context.
#ifndef SLICEKEEPER_SERVER_K8S_INTERNAL_DISCOVERY_H_
#define SLICEKEEPER_SERVER_K8S_INTERNAL_DISCOVERY_H_

#include <optional>

#include "server/http/handler.h"
#include "server/k8s/internal/context.h"

namespace slicekeeper::k8s::internal {

// The discovery or OpenAPI document at `path` for GET, or nullopt when `path` is not one.
std::optional<Reply> DiscoveryDocument(absl::string_view path, const http::Request& request);

// GET /api/v1/namespaces and /api/v1/namespaces/{name} (name "" for the list).
Reply GetNamespaces(const Context& ctx, const http::Request& request, absl::string_view name);

}  // namespace slicekeeper::k8s::internal

#endif  // SLICEKEEPER_SERVER_K8S_INTERNAL_DISCOVERY_H_
