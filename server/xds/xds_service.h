// XdsService: slicekeeper's xDS control plane, a front-end beside the gRPC API over the same
// store, query engine (kube-proxy's merge, server/query) and watch hub. Envoy and proxyless gRPC
// clients (`xds:///<service>.<namespace>:<port>`) read the endpoints of EndpointSlices over it
// with nothing of ours on their side. docs/xds.md is the user's guide.
//
// Contract:
//   - Service: envoy.service.discovery.v3.AggregatedDiscoveryService (StreamAggregatedResources:
//     state of the world; DeltaAggregatedResources: incremental), registered on the server's main
//     gRPC port by Register(). Every type goes over ADS: the single-type EndpointDiscoveryService
//     and ClusterDiscoveryService are not served (their protos clash with the etcd client's, see
//     proto/xds/CMakeLists.txt). The stream code takes a fixed type for them all the same.
//   - Resources (resources.h): LDS Listener (ApiListener + HttpConnectionManager, inline route),
//     RDS RouteConfiguration, CDS Cluster (EDS over ADS), EDS ClusterLoadAssignment (one locality
//     per zone, ready -> HEALTHY, serving+terminating -> DRAINING, else UNHEALTHY, topology hints
//     per client zone). Names: `<service>.<namespace>[.svc[.cluster.local]][:port]` (names.h).
//     LEDS (delta only): for clients whose node metadata has "slicekeeper.io/leds": true, CLA
//     localities name LbEndpoint glob collections (one per canonical name and zone) instead of
//     listing endpoints, and each endpoint is a resource of its own (internal/leds_state.h).
//     An unknown or malformed name does not exist: left out of state-of-the-world listener and
//     cluster responses, reported in removed_resources in delta, and present once the service
//     appears.
//   - Protocol (internal/sotw_session.h, internal/delta_session.h): versions are store revisions
//     (a resource's version: the revision at which its content last changed); a fresh nonce per
//     response; ACK and NACK per the xDS spec (a NACK is logged with its error_detail and counted;
//     the client keeps its last accepted state and the rejected version is not resent); wildcard
//     listener and cluster subscriptions; delta reconnects with initial_resource_versions resend
//     only what changed.
//   - Errors: a request without a type URL, or naming more than 16 unknown type URLs, ends the
//     stream with INVALID_ARGUMENT;
//     one naming an unknown type URL gets an empty response (nothing to NACK). A bad request
//     never crashes or wedges the server.
//   - Fan-out: each stream watches the services its names refer to through the watch hub
//     (marks-only subscribers): writers never wait for it, a slow or stalled stream costs its
//     watched services' newest versions (never a queue) and gets the latest state when it reads
//     again, and every resource is built once per service version and client zone and shared
//     by every stream (resource_cache.h).
//   - Shutdown: ShutdownStreams() ends every open stream with UNAVAILABLE; the destructor waits
//     for the streams gRPC still holds to finish.
//   - Authorization (docs/security.md): a stream needs the reader role in some namespace
//     (server/auth: UNAUTHENTICATED without credentials once a policy is set, PERMISSION_DENIED
//     without any reader role) and holds one of its caller's stream slots while open
//     (RESOURCE_EXHAUSTED past --max_streams_per_identity). A reader limited to namespaces sees
//     only their services: a name in another namespace does not exist for it, exactly like an
//     unknown name (nothing tells it apart), and wildcard subscriptions list only its namespaces.
//
// Thread-safety: every method is safe to call concurrently.
//
// Example (server/api/server.cc):
//   xds::XdsService xds(&store, &hub, &merged_views, &registry, xds::XdsService::Options{});
//   xds.Register(&builder);
//   ... builder.BuildAndStart() ...
//   hub.Stop(); xds.ShutdownStreams(); server->Shutdown(deadline);
#ifndef SLICEKEEPER_SERVER_XDS_XDS_SERVICE_H_
#define SLICEKEEPER_SERVER_XDS_XDS_SERVICE_H_

#include <memory>
#include <optional>

#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_callback.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/auth/authorizer.h"
#include "server/metrics/metrics.h"
#include "server/query/merged_views.h"
#include "server/store/store.h"
#include "server/watch/hub.h"
#include "server/xds/resource_cache.h"
#include "server/xds/xds_metrics.h"

namespace slicekeeper::xds {

namespace internal {
class Stream;
struct Admitted;
}  // namespace internal

class XdsService {
 public:
  struct Options {
    ResourceCache::Options cache;
    // Not owned; must outlive the service. Null: every caller may read everything.
    auth::Authorizer* authorizer = nullptr;
  };

  // Everything passed must outlive the service; `hub` must be started; `registry` may be null
  // (no metrics). Does no work.
  XdsService(const store::Store* store, watch::Hub* hub, query::MergedViews* views,
             metrics::Registry* registry, Options options);
  // Waits until every stream gRPC still holds is done.
  ~XdsService();
  XdsService(const XdsService&) = delete;
  XdsService& operator=(const XdsService&) = delete;

  // Registers the ADS service. Call once, before the builder builds the server.
  void Register(grpc::ServerBuilder* builder);

  // Ends every open stream with UNAVAILABLE (after its write in flight) and refuses new ones.
  // Call after the hub stopped waking streams. Idempotent.
  void ShutdownStreams() ABSL_LOCKS_EXCLUDED(mu_);

  const ResourceCache& cache() const { return cache_; }

 private:
  class Ads;

  // Opens a stream of `SessionT` (SotwSession / DeltaSession) serving `fixed_type` (nullopt:
  // every type, ADS), or a stream that fails at once when authorization or shutdown refuses it.
  template <typename SessionT>
  grpc::ServerBidiReactor<typename SessionT::Request, typename SessionT::Response>* Open(
      grpc::CallbackServerContext* context, std::optional<ResourceType> fixed_type,
      absl::string_view rpc) ABSL_LOCKS_EXCLUDED(mu_);
  // The per-RPC authorization: the admitted caller and its stream slot, or the status that
  // ends the stream before it reads a request.
  absl::StatusOr<internal::Admitted> Authorize(grpc::CallbackServerContext* context,
                                               absl::string_view rpc) const;
  void OnStreamDone(internal::Stream* stream) ABSL_LOCKS_EXCLUDED(mu_);

  watch::Hub* const hub_;
  auth::Authorizer* const authorizer_;
  ResourceCache cache_;
  std::unique_ptr<XdsMetrics> metrics_;
  std::unique_ptr<Ads> ads_;

  absl::Mutex mu_;
  absl::flat_hash_set<internal::Stream*> streams_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slicekeeper::xds

#endif  // SLICEKEEPER_SERVER_XDS_XDS_SERVICE_H_
