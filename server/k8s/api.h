// KubernetesApi: the Kubernetes REST front-end — discovery.k8s.io/v1 EndpointSlices as the
// apiserver serves them, so kubectl, client-go and client-node informers work against slicekeeper
// unchanged (docs/kubernetes-api.md). A sibling of the gRPC front-end (server/api) over the same
// store, query engine (label selectors) and watch hub; it never calls another front-end.
//
// Served on the HTTP side port (server/http/http_server.h; Install routes /version, /api, /apis
// and /openapi to it), JSON only:
//   GET  /version, /api, /api/v1, /apis, /apis/discovery.k8s.io, /apis/discovery.k8s.io/v1,
//        /openapi/v3[/apis/discovery.k8s.io/v1]                    discovery (internal/discovery.h)
//   GET  /api/v1/namespaces[/{ns}]                                  derived, read-only
//   GET  /apis/discovery.k8s.io/v1/endpointslices                   list / watch, every namespace
//   GET  /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices   list / watch (internal/reads.h,
//                                                                   internal/watch.h)
//   POST /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices   create (internal/writes.h)
//   GET, PUT, PATCH, DELETE .../namespaces/{ns}/endpointslices/{name}
// Lists and gets answer a meta.k8s.io/v1 Table when asked (kubectl's `get`). Every error is a
// metav1.Status with the apiserver's reason and code (status.h). A request the HTTP port refused
// (authentication, authorization, body size) is answered with a Status too (Refuse).
//
// Authorization (docs/security.md), through the HTTP port's one admission hook and Access():
// GET / watch need the reader role in the path's namespace (403 Forbidden otherwise, 401
// Unauthorized without credentials once a policy is set); create, replace, patch and delete a
// writer's (writes are rate limited per identity: 429, and audited with their revision). A list
// or watch over every namespace, and /api/v1/namespaces, show only the namespaces the caller may
// read; discovery needs a reader of some namespace. A watch holds one of its caller's stream
// slots while it runs.
//
// Contract with the rest of slicekeeper:
//   - metadata.resourceVersion is the store revision (of the object's last change; of the read,
//     for lists); list and watch resourceVersion semantics are the apiserver's, over the store's
//     history (Store::SnapshotAt, Store::ChangesSince);
//   - writes go through Store::PutSlice / DeleteSlice with their validation (that of
//     EndpointRegistry.PutEndpointSlice), atomically conditioned on resourceVersion / uid;
//   - a watch is a hub Subscriber: coalescing, RESET of laggards (here: a 410 ERROR event and the
//     end of the stream) and writers that never wait hold for HTTP watchers too; each holds one
//     HTTP stream slot (a thread) while it runs.
//
// Thread-safety: Serve and Refuse run concurrently on the HTTP server's threads; the store and
// the hub are thread-safe.
//
// Example:
//   k8s::KubernetesApi api(&store, &hub, k8s::KubernetesApi::Options{});
//   api.Install(&http_server);     // before http_server.Start()
//   // kubectl --server=http://127.0.0.1:<http port> get endpointslices -A
#ifndef SLICEKEEPER_SERVER_K8S_API_H_
#define SLICEKEEPER_SERVER_K8S_API_H_

#include <cstddef>
#include <optional>

#include "absl/time/time.h"
#include "common/clock.h"
#include "server/auth/authorizer.h"
#include "server/http/handler.h"
#include "server/http/http_server.h"
#include "server/k8s/internal/context.h"
#include "server/k8s/json_cache.h"
#include "server/store/store.h"
#include "server/watch/hub.h"

namespace slicekeeper::k8s {

class KubernetesApi : public http::Handler {
 public:
  struct Options {
    // Watches without timeoutSeconds end after a random time in [min, 2 * min), as the
    // apiserver's --min-request-timeout; clients then resume from their last resourceVersion.
    absl::Duration min_watch_timeout = absl::Minutes(30);
    // How long a read waits for a resourceVersion this replica has not applied yet before it
    // answers 504 (ResourceVersionTooLarge).
    absl::Duration resource_version_wait = absl::Seconds(3);
    // Memory for JSON encodings shared between watchers and lists.
    size_t json_cache_bytes = size_t{64} << 20;
    // Not owned. Null: RealClock() (table AGE columns).
    Clock* clock = nullptr;
    // Not owned; must outlive the front-end. Watches take a stream slot of their caller and
    // writes are audited through it. Null: neither. (Admission is the HTTP port's hook.)
    auth::Authorizer* authorizer = nullptr;
  };

  // `store` and `hub` must outlive the front-end. Does no work.
  KubernetesApi(store::Store* store, watch::Hub* hub, Options options);

  // Routes /version, /api, /apis and /openapi of `server` here. REQUIRES: before server->Start().
  void Install(http::HttpServer* server);

  // Reads (get, list, watch; discovery) need a reader, writes (create, replace, patch, delete)
  // a writer, of the namespace in the path; requests over every namespace need a reader of
  // some namespace and see only those it may read.
  std::optional<auth::Request> Access(const http::Request& request) const override;
  void Serve(const http::Request& request, http::Response& response) override;
  void Refuse(const http::Request& request, http::Response& response, int status,
              absl::string_view message) override;

  const JsonCache& json_cache() const { return cache_; }

 private:
  // Answers a request on the endpointslices resource.
  void ServeSlices(const http::Request& request, http::Response& response, absl::string_view ns,
                   absl::string_view name, bool namespaced);

  JsonCache cache_;
  internal::Context ctx_;
};

}  // namespace slicekeeper::k8s

#endif  // SLICEKEEPER_SERVER_K8S_API_H_
