// RegistryService: EndpointRegistry (the write side) on gRPC's callback API.
//
// Every RPC maps onto one Store write; absl::Status errors become grpc::Status with the same code
// and message (common/status_util.h), so the field path of a validation error reaches the client.
// Batches larger than `max_batch_changes` are refused before the store sees them:
// RESOURCE_EXHAUSTED for ApplyChanges, an ack with that code for StreamChanges. StreamChanges is
// served by a `ChangeStream` reactor per call (see change_stream.h).
//
// Shutdown: ShutdownStreams() makes every open StreamChanges stream finish with UNAVAILABLE once
// the batches it already read are acked, and refuses new streams with UNAVAILABLE. The destructor
// waits until every stream reactor is done (the gRPC server must be shut down first, which ends
// them all).
//
// Thread-safety: every method is safe to call concurrently (gRPC calls them from its threads).
//
// Example:
//   RegistryService registry(&store, &metrics, RegistryService::Options{});
//   builder.RegisterService(&registry);
//   ...
//   registry.ShutdownStreams();
//   server->Shutdown(deadline);
#ifndef SLICEKEEPER_SERVER_API_REGISTRY_SERVICE_H_
#define SLICEKEEPER_SERVER_API_REGISTRY_SERVICE_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/api/api_metrics.h"
#include "server/api/change_stream.h"
#include "server/api/internal/apply_pool.h"
#include "server/auth/authorizer.h"
#include "server/store/store.h"
#include "server/watch/hub.h"
#include "slicekeeper/v1/registry.grpc.pb.h"

namespace slicekeeper::api {

class RegistryService final : public v1::EndpointRegistry::CallbackService {
 public:
  struct Options {
    // Changes per batch at most (ApplyChanges and each StreamChanges batch).
    int64_t max_batch_changes = 10'000;
    // Per stream: acks waiting to be written before the stream stops reading.
    int max_pending_acks = 64;
    // Threads applying stream batches (internal/apply_pool.h); 0: on gRPC's threads.
    int apply_threads = 0;
    // Authentication, authorization, audit and per-identity limits (server/auth). Not owned;
    // must outlive the service. Null: everything allowed, nothing audited.
    auth::Authorizer* authorizer = nullptr;
    // The watch hub fed by `store`. Not owned; must outlive the service. When set, a batch that
    // commits on the thread applying it (the memory store) is also dispatched to the watchers on
    // that thread, after its ack (Hub::InlineDispatch): no hand-off to the hub's thread. Null:
    // the hub's dispatcher thread hands out every commit.
    watch::Hub* hub = nullptr;
  };

  // `store` must outlive the service; `metrics` may be null (else must outlive it).
  RegistryService(store::Store* store, ApiMetrics* metrics, Options options);
  // Waits until every stream reactor is done. REQUIRES: the gRPC server was shut down.
  ~RegistryService() override;

  // Ends open streams (UNAVAILABLE after their pending acks) and refuses new ones. Idempotent.
  void ShutdownStreams() ABSL_LOCKS_EXCLUDED(mu_);

  // Applies one batch and calls `ack` with its ack once it is visible and durable (inline, or
  // from the store's commit thread); a rejected batch gets the error's code and message and
  // revision 0. This is what every StreamChanges batch goes through, after the authorizer
  // admitted it for `peer` (a batch touching a namespace the caller may not write is refused
  // whole: PERMISSION_DENIED naming it). The batch's changes are consumed before it returns.
  void ApplyBatch(v1::ChangeBatch* batch, ChangeStream::AckFn ack,
                  const auth::Peer& peer = auth::Peer{});

  grpc::ServerUnaryReactor* UpsertService(grpc::CallbackServerContext* context,
                                          const v1::UpsertServiceRequest* request,
                                          v1::UpsertServiceResponse* response) override;
  grpc::ServerUnaryReactor* DeleteService(grpc::CallbackServerContext* context,
                                          const v1::DeleteServiceRequest* request,
                                          v1::DeleteServiceResponse* response) override;
  grpc::ServerUnaryReactor* ApplyChanges(grpc::CallbackServerContext* context,
                                         const v1::ChangeBatch* request,
                                         v1::ChangeAck* response) override;
  grpc::ServerBidiReactor<v1::ChangeBatch, v1::ChangeAck>* StreamChanges(
      grpc::CallbackServerContext* context) override ABSL_LOCKS_EXCLUDED(mu_);
  grpc::ServerUnaryReactor* ReplaceEndpoints(grpc::CallbackServerContext* context,
                                             const v1::ReplaceEndpointsRequest* request,
                                             v1::ChangeAck* response) override;
  grpc::ServerUnaryReactor* PutEndpointSlice(grpc::CallbackServerContext* context,
                                             const v1::PutEndpointSliceRequest* request,
                                             v1::PutEndpointSliceResponse* response) override;
  grpc::ServerUnaryReactor* DeleteEndpointSlice(grpc::CallbackServerContext* context,
                                                const v1::DeleteEndpointSliceRequest* request,
                                                v1::DeleteEndpointSliceResponse* response) override;
  grpc::ServerUnaryReactor* PutNodes(grpc::CallbackServerContext* context,
                                     const v1::PutNodesRequest* request,
                                     v1::PutNodesResponse* response) override;

 private:
  // OK, or RESOURCE_EXHAUSTED naming --max_batch_changes.
  absl::Status CheckSize(int changes) const;
  // Admits a unary write (Admit + metrics on refusal): the caller, or the status to finish with.
  absl::StatusOr<auth::Caller> AdmitWrite(grpc::CallbackServerContext* context,
                                          const auth::Request& request);
  // Records a write's outcome in the metrics (if any).
  void Record(const absl::Status& status, const store::WriteResult* result);
  void OnStreamDone(ChangeStream* stream, const grpc::Status& status, absl::Duration latency)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Immutable after construction.
  store::Store* const store_;
  ApiMetrics* const metrics_;
  const Options options_;

  // Null without apply_threads. Destroyed after the destructor waited for every stream.
  std::unique_ptr<internal::ApplyPool> pool_;

  absl::Mutex mu_;
  // Live stream reactors; a reactor leaves the set in OnDone, before deleting itself, so
  // ShutdownStreams (which holds mu_) never touches a deleted reactor.
  absl::flat_hash_set<ChangeStream*> streams_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slicekeeper::api

#endif  // SLICEKEEPER_SERVER_API_REGISTRY_SERVICE_H_
