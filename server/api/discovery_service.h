// DiscoveryService: EndpointDiscovery (the read side) on gRPC's callback API.
//
// Reads never wait for writers: each takes immutable snapshots from the store and works on them
// without locks. Every response carries the revision it reflects:
//   - GetEndpointSlice: the store's revision at the read;
//   - ListEndpointSlices / ListServices: the Catalog's revision (all pages of one paged listing
//     share the revision of the first page, see continue_tokens.h);
//   - QueryEndpoints: max(store revision before the read, the service's mod_revision) — the
//     service's state at that revision is exactly the snapshot read.
// QueryEndpoints keeps the merged view (query::MergeEndpoints) of the last snapshot of each
// queried service, so repeated queries of an unchanged service only filter.
// Watch streams through the watch hub (server/watch/hub.h): one WatchReactor per stream, see
// watch_reactor.h and docs/watch.md. ShutdownWatches() ends every open watch with UNAVAILABLE.
//
// Errors: NOT_FOUND (unknown slice or service), INVALID_ARGUMENT (bad selector, limit, filters or
// token, naming the field), OUT_OF_RANGE (continue token expired: restart the list).
//
// Thread-safety: every method is safe to call concurrently.
#ifndef SLICEKEEPER_SERVER_API_DISCOVERY_SERVICE_H_
#define SLICEKEEPER_SERVER_API_DISCOVERY_SERVICE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/api/api_metrics.h"
#include "server/api/continue_tokens.h"
#include "server/api/watch_reactor.h"
#include "server/auth/authorizer.h"
#include "server/query/merged_views.h"
#include "server/store/store.h"
#include "server/watch/hub.h"
#include "slicekeeper/v1/discovery.grpc.pb.h"

namespace slicekeeper::api {

// Watch and QueryEndpoints are registered raw: they write pre-encoded bytes (Watch: each slice
// serialized once for every subscriber, see watch_reactor.h; QueryEndpoints: one encoded answer
// per service version and query, shared by every identical query). The other methods are typed
// callback methods.
using DiscoveryBase = v1::EndpointDiscovery::WithCallbackMethod_GetEndpointSlice<
    v1::EndpointDiscovery::WithCallbackMethod_ListEndpointSlices<
        v1::EndpointDiscovery::WithCallbackMethod_ListServices<
            v1::EndpointDiscovery::WithRawCallbackMethod_QueryEndpoints<
                v1::EndpointDiscovery::WithRawCallbackMethod_Watch<
                    v1::EndpointDiscovery::Service>>>>>;

class DiscoveryService final : public DiscoveryBase {
 public:
  struct Options {
    ContinueTokens::Options continue_tokens;
    // The merged views QueryEndpoints reads (shared with the watch hub's ENDPOINTS view). Not
    // owned; must outlive the service. Null: the service keeps its own.
    query::MergedViews* merged_views = nullptr;
    // Bytes of encoded QueryEndpoints answers kept (the cache is dropped when it would exceed
    // them); 0 disables it.
    int64_t answer_cache_bytes = 64 << 20;
    // Authentication, authorization and per-identity stream limits (server/auth). Not owned;
    // must outlive the service. Null: everything allowed. Reads over every namespace (a list
    // or watch without one) are filtered to the caller's namespaces.
    auth::Authorizer* authorizer = nullptr;
  };

  // `store` must outlive the service; `metrics` may be null (else must outlive it); `hub` may be
  // null (Watch then answers UNAVAILABLE), else must be started and outlive the service.
  DiscoveryService(const store::Store* store, ApiMetrics* metrics, watch::Hub* hub,
                   Options options);

  grpc::ServerUnaryReactor* GetEndpointSlice(grpc::CallbackServerContext* context,
                                             const v1::GetEndpointSliceRequest* request,
                                             v1::GetEndpointSliceResponse* response) override;
  grpc::ServerUnaryReactor* ListEndpointSlices(grpc::CallbackServerContext* context,
                                               const v1::ListEndpointSlicesRequest* request,
                                               v1::ListEndpointSlicesResponse* response) override;
  grpc::ServerUnaryReactor* ListServices(grpc::CallbackServerContext* context,
                                         const v1::ListServicesRequest* request,
                                         v1::ListServicesResponse* response) override;
  // `request` holds a serialized QueryEndpointsRequest; `response` gets a QueryEndpointsResponse.
  grpc::ServerUnaryReactor* QueryEndpoints(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  // `request` holds a serialized WatchRequest.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Watch(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request) override
      ABSL_LOCKS_EXCLUDED(watches_mu_);

  // Ends every open watch with UNAVAILABLE and refuses new ones. Call after the hub stopped.
  void ShutdownWatches() ABSL_LOCKS_EXCLUDED(watches_mu_);

  // The handlers' logic, without gRPC (unit tests call these).
  // `readable`: the namespaces the caller may see.
  absl::Status DoListEndpointSlices(const v1::ListEndpointSlicesRequest& request,
                                    v1::ListEndpointSlicesResponse* response,
                                    const auth::NamespaceFilter& readable = {});
  absl::Status DoQueryEndpoints(const v1::QueryEndpointsRequest& request,
                                v1::QueryEndpointsResponse* response) ABSL_LOCKS_EXCLUDED(mu_);

  // A QueryEndpoints answer: `body` is the encoded response without its revision (identical for
  // every identical query of one service version, so it is cached and shared); `revision` is
  // the revision the read reflects.
  struct Answer {
    std::shared_ptr<const std::string> body;
    int64_t revision = 0;
  };
  absl::StatusOr<Answer> QueryEndpointsAnswer(const v1::QueryEndpointsRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // The first page's listing: the catalog filtered and sorted by (namespace, name).
  absl::StatusOr<ListingPtr> BuildListing(const v1::ListEndpointSlicesRequest& request,
                                          std::string filter_key,
                                          const auth::NamespaceFilter& readable) const;
  // The caller of `context` admitted for `request` (a read): the caller or the refusal.
  absl::StatusOr<auth::Caller> Admit(grpc::CallbackServerContext* context,
                                     const auth::Request& request);
  // The response bytes of `answer`: its shared body (not copied) and its revision.
  static grpc::ByteBuffer AnswerBuffer(const Answer& answer);

  void OnWatchDone(WatchReactor* reactor, const grpc::Status& status, absl::Time start)
      ABSL_LOCKS_EXCLUDED(watches_mu_);

  // Immutable after construction.
  const store::Store* const store_;
  ApiMetrics* const metrics_;
  watch::Hub* const hub_;
  const Options options_;

  ContinueTokens tokens_;
  std::unique_ptr<query::MergedViews> owned_merged_views_;
  query::MergedViews* const merged_views_;

  absl::Mutex mu_;
  // The serialized request -> its encoded answer and the snapshot it was computed from.
  struct CachedAnswer {
    store::ServiceSnapshotPtr snapshot;
    std::shared_ptr<const std::string> body;
  };
  absl::flat_hash_map<std::string, CachedAnswer> answers_ ABSL_GUARDED_BY(mu_);
  int64_t answer_bytes_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex watches_mu_;
  // Open watches. A reactor leaves the set in its OnDone (under watches_mu_), so ShutdownWatches
  // (which holds watches_mu_) never touches a deleted reactor.
  absl::flat_hash_set<WatchReactor*> watches_ ABSL_GUARDED_BY(watches_mu_);
  bool watches_closed_ ABSL_GUARDED_BY(watches_mu_) = false;
};

}  // namespace slicekeeper::api

#endif  // SLICEKEEPER_SERVER_API_DISCOVERY_SERVICE_H_
