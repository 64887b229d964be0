#include "server/api/registry_service.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/api/internal/grpc_auth.h"
#include "server/api/internal/unary.h"
#include "server/auth/grpc_peer.h"

namespace slicekeeper::api {
namespace {

using auth::AuditWrite;
using internal::FinishReactor;
using internal::FinishUnary;

auth::Request WriteRequest(std::string rpc, auth::Role role, const std::string& ns,
                           const std::string& service, int64_t changes) {
  return auth::Request{.rpc = std::move(rpc),
                       .role = role,
                       .namespaces = {ns},
                       .write = true,
                       .services = {service},
                       .changes = changes};
}

// A stream refused before it started: it only finishes with `status`.
class RejectedStream final : public grpc::ServerBidiReactor<v1::ChangeBatch, v1::ChangeAck> {
 public:
  explicit RejectedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

void FillAck(const store::WriteResult& result, v1::ChangeAck* ack) {
  ack->set_revision(result.revision);
  *ack->mutable_stats() = result.stats;
}

// The store takes spans; a RepeatedPtrField is not contiguous, so its elements are copied into a
// vector.
template <typename T>
std::vector<T> ToVector(const google::protobuf::RepeatedPtrField<T>& field) {
  return std::vector<T>(field.begin(), field.end());
}

}  // namespace

RegistryService::RegistryService(store::Store* store, ApiMetrics* metrics, Options options)
    : store_(store),
      metrics_(metrics),
      options_(options),
      pool_(options.apply_threads > 0 ? std::make_unique<internal::ApplyPool>(options.apply_threads)
                                      : nullptr) {}

RegistryService::~RegistryService() {
  absl::MutexLock l(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_set<ChangeStream*>* s) { return s->empty(); }, &streams_));
}

void RegistryService::ShutdownStreams() {
  absl::MutexLock l(&mu_);
  shutting_down_ = true;
  for (ChangeStream* stream : streams_) stream->BeginShutdown();
}

void RegistryService::Record(const absl::Status& status, const store::WriteResult* result) {
  if (metrics_ == nullptr) return;
  if (status.ok() && result != nullptr) metrics_->RecordWrite(*result);
  if (!status.ok()) metrics_->RecordRejectedWrite();
}

absl::Status RegistryService::CheckSize(int changes) const {
  if (changes <= options_.max_batch_changes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "changes: the batch has ", changes,
      " changes, more than the server's limit --max_batch_changes=", options_.max_batch_changes));
}

absl::StatusOr<auth::Caller> RegistryService::AdmitWrite(grpc::CallbackServerContext* context,
                                                         const auth::Request& request) {
  absl::StatusOr<auth::Caller> caller =
      auth::Admit(options_.authorizer, auth::PeerOf(*context), request);
  if (!caller.ok()) Record(caller.status(), nullptr);
  return caller;
}

void RegistryService::ApplyBatch(v1::ChangeBatch* batch, ChangeStream::AckFn ack,
                                 const auth::Peer& peer) {
  auth::Request request;
  absl::StatusOr<auth::Caller> caller = auth::Caller{};
  if (options_.authorizer != nullptr) {
    request = internal::BatchRequest("StreamChanges", *batch);
    caller = options_.authorizer->Check(peer, request);
  }
  auto finish = [this, batch_id = batch->batch_id(), ack = std::move(ack),
                 audit = caller.ok() && options_.authorizer != nullptr, request,
                 caller](absl::StatusOr<store::WriteResult> result) {
    Record(result.status(), result.ok() ? &*result : nullptr);
    if (audit) {
      AuditWrite(options_.authorizer, *caller, request, result.status(),
                 result.ok() ? result->revision : 0);
    }
    v1::ChangeAck out;
    out.set_batch_id(batch_id);
    if (result.ok()) {
      FillAck(*result, &out);
    } else {
      out.set_code(static_cast<int32_t>(result.status().code()));
      out.set_message(std::string(result.status().message()));
    }
    ack(std::move(out));
  };
  // An OK absl::Status must never initialize a StatusOr (absl aborts the process on it), so the
  // size check is kept as a Status and only a failed one becomes the result.
  if (!caller.ok()) {
    finish(caller.status());
    return;
  }
  if (absl::Status size = CheckSize(batch->changes_size()); !size.ok()) {
    finish(std::move(size));
    return;
  }
  watch::Hub::InlineDispatch dispatch(options_.hub);
  // The changes are read in place, on the stream's arena (moving them out would copy them).
  store_->ApplyChangesAsync(batch->mutable_changes(), std::move(finish));
}

grpc::ServerUnaryReactor* RegistryService::UpsertService(grpc::CallbackServerContext* context,
                                                         const v1::UpsertServiceRequest* request,
                                                         v1::UpsertServiceResponse* response) {
  const absl::Time start = absl::Now();
  const auth::Request req =
      WriteRequest("UpsertService", auth::Role::kWriter, request->service().namespace_(),
                   request->service().name(), 0);
  absl::StatusOr<auth::Caller> caller = AdmitWrite(context, req);
  if (!caller.ok()) return FinishUnary(context, metrics_, "UpsertService", start, caller.status());
  auto result = store_->UpsertService(request->service());
  Record(result.status(), result.ok() ? &result->second : nullptr);
  AuditWrite(options_.authorizer, *caller, req, result.status(),
             result.ok() ? result->second.revision : 0);
  if (result.ok()) {
    *response->mutable_service() = std::move(result->first);
    response->set_revision(result->second.revision);
    *response->mutable_stats() = result->second.stats;
  }
  return FinishUnary(context, metrics_, "UpsertService", start, result.status());
}

grpc::ServerUnaryReactor* RegistryService::DeleteService(grpc::CallbackServerContext* context,
                                                         const v1::DeleteServiceRequest* request,
                                                         v1::DeleteServiceResponse* response) {
  const absl::Time start = absl::Now();
  const auth::Request req =
      WriteRequest("DeleteService", auth::Role::kAdmin, request->namespace_(), request->name(), 0);
  absl::StatusOr<auth::Caller> caller = AdmitWrite(context, req);
  if (!caller.ok()) return FinishUnary(context, metrics_, "DeleteService", start, caller.status());
  auto result = store_->DeleteService(request->namespace_(), request->name());
  Record(result.status(), result.ok() ? &*result : nullptr);
  AuditWrite(options_.authorizer, *caller, req, result.status(),
             result.ok() ? result->revision : 0);
  if (result.ok()) {
    response->set_revision(result->revision);
    *response->mutable_stats() = result->stats;
  }
  return FinishUnary(context, metrics_, "DeleteService", start, result.status());
}

grpc::ServerUnaryReactor* RegistryService::ApplyChanges(grpc::CallbackServerContext* context,
                                                        const v1::ChangeBatch* request,
                                                        v1::ChangeAck* response) {
  const absl::Time start = absl::Now();
  auth::Request req;
  if (options_.authorizer != nullptr) req = internal::BatchRequest("ApplyChanges", *request);
  absl::StatusOr<auth::Caller> caller = AdmitWrite(context, req);
  if (!caller.ok()) return FinishUnary(context, metrics_, "ApplyChanges", start, caller.status());
  if (absl::Status size = CheckSize(request->changes_size()); !size.ok()) {
    Record(size, nullptr);
    return FinishUnary(context, metrics_, "ApplyChanges", start, size);
  }
  // Answered when the write is durable, without holding a callback thread through the sync.
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  response->set_batch_id(request->batch_id());
  watch::Hub::InlineDispatch dispatch(options_.hub);
  store_->ApplyChangesAsync(
      ToVector(request->changes()),
      [this, reactor, response, start, req = std::move(req),
       caller = *std::move(caller)](absl::StatusOr<store::WriteResult> result) {
        Record(result.status(), result.ok() ? &*result : nullptr);
        AuditWrite(options_.authorizer, caller, req, result.status(),
                   result.ok() ? result->revision : 0);
        if (result.ok()) FillAck(*result, response);
        FinishReactor(reactor, metrics_, "ApplyChanges", start, result.status());
      });
  return reactor;
}

grpc::ServerBidiReactor<v1::ChangeBatch, v1::ChangeAck>* RegistryService::StreamChanges(
    grpc::CallbackServerContext* context) {
  // The stream needs a writer somewhere; each batch is then checked against its namespaces.
  auth::Peer peer = auth::PeerOf(*context);
  const auth::Request open{
      .rpc = "StreamChanges", .role = auth::Role::kWriter, .all_namespaces = true};
  absl::StatusOr<auth::Caller> caller = auth::Admit(options_.authorizer, peer, open);
  std::shared_ptr<auth::StreamLimiter::Slot> slot;
  if (caller.ok()) {
    auto acquired = auth::AcquireStream(options_.authorizer, *caller, open);
    if (acquired.ok()) {
      slot = *std::move(acquired);
    } else {
      caller = acquired.status();
    }
  }
  if (!caller.ok()) {
    if (metrics_ != nullptr) {
      metrics_->RecordRpc("StreamChanges", ToGrpcStatus(caller.status()).error_code(),
                          absl::ZeroDuration());
    }
    return new RejectedStream(ToGrpcStatus(caller.status()));
  }
  auto* stream = new ChangeStream(
      [this, peer = std::move(peer)](v1::ChangeBatch* batch, ChangeStream::AckFn ack) {
        ApplyBatch(batch, std::move(ack), peer);
      },
      [this, slot](ChangeStream* s, const grpc::Status& status, absl::Duration latency) {
        OnStreamDone(s, status, latency);
      },
      ChangeStream::Options{.max_pending_acks = options_.max_pending_acks,
                            .executor = pool_ == nullptr
                                            ? std::function<void(std::function<void()>)>()
                                            : [this](std::function<void()> task) {
                                                pool_->Schedule(std::move(task));
                                              }});
  absl::MutexLock l(&mu_);
  streams_.insert(stream);
  // A stream opened during shutdown finishes at once with UNAVAILABLE.
  if (shutting_down_) stream->BeginShutdown();
  stream->Start();
  return stream;
}

void RegistryService::OnStreamDone(ChangeStream* stream, const grpc::Status& status,
                                   absl::Duration latency) {
  if (metrics_ != nullptr) metrics_->RecordRpc("StreamChanges", status.error_code(), latency);
  absl::MutexLock l(&mu_);
  streams_.erase(stream);
}

grpc::ServerUnaryReactor* RegistryService::ReplaceEndpoints(
    grpc::CallbackServerContext* context, const v1::ReplaceEndpointsRequest* request,
    v1::ChangeAck* response) {
  const absl::Time start = absl::Now();
  const auth::Request req =
      WriteRequest("ReplaceEndpoints", auth::Role::kWriter, request->namespace_(),
                   request->service(), request->endpoints_size());
  absl::StatusOr<auth::Caller> caller = AdmitWrite(context, req);
  if (!caller.ok()) {
    return FinishUnary(context, metrics_, "ReplaceEndpoints", start, caller.status());
  }
  auto result = store_->ReplaceEndpoints(request->namespace_(), request->service(),
                                         ToVector(request->endpoints()));
  Record(result.status(), result.ok() ? &*result : nullptr);
  AuditWrite(options_.authorizer, *caller, req, result.status(),
             result.ok() ? result->revision : 0);
  response->set_batch_id(request->batch_id());
  if (result.ok()) FillAck(*result, response);
  return FinishUnary(context, metrics_, "ReplaceEndpoints", start, result.status());
}

grpc::ServerUnaryReactor* RegistryService::PutEndpointSlice(
    grpc::CallbackServerContext* context, const v1::PutEndpointSliceRequest* request,
    v1::PutEndpointSliceResponse* response) {
  const absl::Time start = absl::Now();
  const auth::Request req = WriteRequest(
      "PutEndpointSlice", auth::Role::kWriter, request->slice().metadata().namespace_(),
      request->slice().metadata().name(), request->slice().endpoints_size());
  absl::StatusOr<auth::Caller> caller = AdmitWrite(context, req);
  if (!caller.ok()) {
    return FinishUnary(context, metrics_, "PutEndpointSlice", start, caller.status());
  }
  auto result = store_->PutSlice(request->slice());
  AuditWrite(options_.authorizer, *caller, req, result.status(), result.ok() ? result->second : 0);
  if (result.ok()) {
    *response->mutable_slice() = result->first->ToProto();
    response->set_revision(result->second);
  }
  return FinishUnary(context, metrics_, "PutEndpointSlice", start, result.status());
}

grpc::ServerUnaryReactor* RegistryService::DeleteEndpointSlice(
    grpc::CallbackServerContext* context, const v1::DeleteEndpointSliceRequest* request,
    v1::DeleteEndpointSliceResponse* response) {
  const absl::Time start = absl::Now();
  const auth::Request req = WriteRequest("DeleteEndpointSlice", auth::Role::kWriter,
                                         request->namespace_(), request->name(), 0);
  absl::StatusOr<auth::Caller> caller = AdmitWrite(context, req);
  if (!caller.ok()) {
    return FinishUnary(context, metrics_, "DeleteEndpointSlice", start, caller.status());
  }
  auto result = store_->DeleteSlice(request->namespace_(), request->name());
  AuditWrite(options_.authorizer, *caller, req, result.status(), result.value_or(0));
  if (result.ok()) response->set_revision(*result);
  return FinishUnary(context, metrics_, "DeleteEndpointSlice", start, result.status());
}

grpc::ServerUnaryReactor* RegistryService::PutNodes(grpc::CallbackServerContext* context,
                                                    const v1::PutNodesRequest* request,
                                                    v1::PutNodesResponse* response) {
  const absl::Time start = absl::Now();
  // Node labels are cluster-scoped: an admin over every namespace.
  const auth::Request req{.rpc = "PutNodes",
                          .role = auth::Role::kAdmin,
                          .write = true,
                          .changes = request->nodes_size()};
  absl::StatusOr<auth::Caller> caller = AdmitWrite(context, req);
  if (!caller.ok()) return FinishUnary(context, metrics_, "PutNodes", start, caller.status());
  auto result = store_->PutNodes(ToVector(request->nodes()));
  AuditWrite(options_.authorizer, *caller, req, result.status(), result.value_or(0));
  if (result.ok()) response->set_revision(*result);
  return FinishUnary(context, metrics_, "PutNodes", start, result.status());
}

}  // namespace slicekeeper::api
