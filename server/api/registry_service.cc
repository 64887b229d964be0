#include "server/api/registry_service.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/api/internal/unary.h"

namespace slicekeeper::api {
namespace {

using internal::FinishReactor;
using internal::FinishUnary;

void FillAck(const store::WriteResult& result, v1::ChangeAck* ack) {
  ack->set_revision(result.revision);
  *ack->mutable_stats() = result.stats;
}

// The store takes spans; a RepeatedPtrField is not contiguous, so its elements are moved (cheap:
// no arena) or copied into a vector.
template <typename T>
std::vector<T> ToVector(const google::protobuf::RepeatedPtrField<T>& field) {
  return std::vector<T>(field.begin(), field.end());
}

std::vector<v1::EndpointChange> TakeChanges(v1::ChangeBatch* batch) {
  std::vector<v1::EndpointChange> changes;
  changes.reserve(batch->changes_size());
  for (v1::EndpointChange& c : *batch->mutable_changes()) changes.push_back(std::move(c));
  return changes;
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
  return absl::ResourceExhaustedError(
      absl::StrCat("changes: the batch has ", changes,
                   " changes, more than the server's limit --max_batch_changes=",
                   options_.max_batch_changes));
}

void RegistryService::ApplyBatch(v1::ChangeBatch* batch, ChangeStream::AckFn ack) {
  auto finish = [this, batch_id = batch->batch_id(),
                 ack = std::move(ack)](absl::StatusOr<store::WriteResult> result) {
    Record(result.status(), result.ok() ? &*result : nullptr);
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
  if (absl::Status size = CheckSize(batch->changes_size()); !size.ok()) {
    finish(std::move(size));
    return;
  }
  store_->ApplyChangesAsync(TakeChanges(batch), std::move(finish));
}

grpc::ServerUnaryReactor* RegistryService::UpsertService(grpc::CallbackServerContext* context,
                                                         const v1::UpsertServiceRequest* request,
                                                         v1::UpsertServiceResponse* response) {
  const absl::Time start = absl::Now();
  auto result = store_->UpsertService(request->service());
  Record(result.status(), result.ok() ? &result->second : nullptr);
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
  auto result = store_->DeleteService(request->namespace_(), request->name());
  Record(result.status(), result.ok() ? &*result : nullptr);
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
  if (absl::Status size = CheckSize(request->changes_size()); !size.ok()) {
    Record(size, nullptr);
    return FinishUnary(context, metrics_, "ApplyChanges", start, size);
  }
  // Answered when the write is durable, without holding a callback thread through the sync.
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  response->set_batch_id(request->batch_id());
  store_->ApplyChangesAsync(
      ToVector(request->changes()),
      [this, reactor, response, start](absl::StatusOr<store::WriteResult> result) {
        Record(result.status(), result.ok() ? &*result : nullptr);
        if (result.ok()) FillAck(*result, response);
        FinishReactor(reactor, metrics_, "ApplyChanges", start, result.status());
      });
  return reactor;
}

grpc::ServerBidiReactor<v1::ChangeBatch, v1::ChangeAck>* RegistryService::StreamChanges(
    grpc::CallbackServerContext* context) {
  auto* stream = new ChangeStream(
      [this](v1::ChangeBatch* batch, ChangeStream::AckFn ack) {
        ApplyBatch(batch, std::move(ack));
      },
      [this](ChangeStream* s, const grpc::Status& status, absl::Duration latency) {
        OnStreamDone(s, status, latency);
      },
      ChangeStream::Options{
          .max_pending_acks = options_.max_pending_acks,
          .executor = pool_ == nullptr ? std::function<void(std::function<void()>)>()
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
  auto result =
      store_->ReplaceEndpoints(request->namespace_(), request->service(), ToVector(request->endpoints()));
  Record(result.status(), result.ok() ? &*result : nullptr);
  response->set_batch_id(request->batch_id());
  if (result.ok()) FillAck(*result, response);
  return FinishUnary(context, metrics_, "ReplaceEndpoints", start, result.status());
}

grpc::ServerUnaryReactor* RegistryService::PutEndpointSlice(
    grpc::CallbackServerContext* context, const v1::PutEndpointSliceRequest* request,
    v1::PutEndpointSliceResponse* response) {
  const absl::Time start = absl::Now();
  auto result = store_->PutSlice(request->slice());
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
  auto result = store_->DeleteSlice(request->namespace_(), request->name());
  if (result.ok()) response->set_revision(*result);
  return FinishUnary(context, metrics_, "DeleteEndpointSlice", start, result.status());
}

grpc::ServerUnaryReactor* RegistryService::PutNodes(grpc::CallbackServerContext* context,
                                                    const v1::PutNodesRequest* request,
                                                    v1::PutNodesResponse* response) {
  const absl::Time start = absl::Now();
  auto result = store_->PutNodes(ToVector(request->nodes()));
  if (result.ok()) response->set_revision(*result);
  return FinishUnary(context, metrics_, "PutNodes", start, result.status());
}

}  // namespace slicekeeper::api
