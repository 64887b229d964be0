#include "server/api/discovery_service.h"

#include <algorithm>
#include <utility>

#include <grpcpp/support/slice.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "common/validation.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "server/api/internal/grpc_auth.h"
#include "server/api/internal/unary.h"
#include "server/auth/grpc_peer.h"
#include "server/query/filter.h"
#include "server/query/label_selector.h"
#include "server/query/merge.h"

namespace slicekeeper::api {
namespace {

using internal::FinishUnary;
using internal::NamespaceRequest;

absl::Status Required(absl::string_view field, absl::string_view value) {
  if (!value.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, ": Required value"));
}

absl::StatusOr<watch::Selection> WatchSelection(const v1::WatchRequest& request) {
  watch::Selection sel;
  if (!request.namespace_().empty() && !validation::IsDns1123Label(request.namespace_())) {
    return absl::InvalidArgumentError("namespace: must be a DNS-1123 label");
  }
  for (int i = 0; i < request.services_size(); ++i) {
    if (!validation::IsDns1123Label(request.services(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("services[", i, "]: must be a DNS-1123 label"));
    }
  }
  if (request.resume_revision() < 0) {
    return absl::InvalidArgumentError("resume_revision: must be >= 0");
  }
  if (request.view() != v1::WATCH_VIEW_UNSPECIFIED && request.view() != v1::SLICES &&
      request.view() != v1::ENDPOINTS) {
    return absl::InvalidArgumentError("view: must be SLICES or ENDPOINTS");
  }
  sel.view = request.view() == v1::ENDPOINTS ? v1::ENDPOINTS : v1::SLICES;
  if (sel.view != v1::ENDPOINTS && (!request.zone().empty() || !request.node().empty())) {
    return absl::InvalidArgumentError("zone, node: only valid with view ENDPOINTS");
  }
  sel.namespace_ = request.namespace_();
  sel.services.assign(request.services().begin(), request.services().end());
  sel.zone = request.zone();
  sel.node = request.node();
  sel.bookmarks = request.bookmarks();
  return sel;
}

// A write reactor that only finishes with `status` (a rejected Watch).
class RejectedWatch final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RejectedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

DiscoveryService::DiscoveryService(const store::Store* store, ApiMetrics* metrics, watch::Hub* hub,
                                   Options options)
    : store_(store),
      metrics_(metrics),
      hub_(hub),
      options_(options),
      tokens_(options.continue_tokens),
      owned_merged_views_(options.merged_views == nullptr ? std::make_unique<query::MergedViews>()
                                                          : nullptr),
      merged_views_(options.merged_views != nullptr ? options.merged_views
                                                    : owned_merged_views_.get()) {}

absl::StatusOr<auth::Caller> DiscoveryService::Admit(grpc::CallbackServerContext* context,
                                                     const auth::Request& request) {
  return auth::Admit(options_.authorizer, auth::PeerOf(*context), request);
}

grpc::ServerUnaryReactor* DiscoveryService::GetEndpointSlice(
    grpc::CallbackServerContext* context, const v1::GetEndpointSliceRequest* request,
    v1::GetEndpointSliceResponse* response) {
  const absl::Time start = absl::Now();
  absl::Status status = Admit(context, NamespaceRequest("GetEndpointSlice", auth::Role::kReader,
                                                        request->namespace_()))
                            .status();
  if (status.ok()) status = Required("namespace", request->namespace_());
  if (status.ok()) status = Required("name", request->name());
  if (status.ok()) {
    auto slice = store_->GetSlice(request->namespace_(), request->name());
    status = slice.status();
    if (slice.ok()) {
      *response->mutable_slice() = slice->first->ToProto();
      response->set_revision(slice->second);
    }
  }
  return FinishUnary(context, metrics_, "GetEndpointSlice", start, status);
}

grpc::ServerUnaryReactor* DiscoveryService::ListEndpointSlices(
    grpc::CallbackServerContext* context, const v1::ListEndpointSlicesRequest* request,
    v1::ListEndpointSlicesResponse* response) {
  const absl::Time start = absl::Now();
  absl::StatusOr<auth::Caller> caller = Admit(
      context, NamespaceRequest("ListEndpointSlices", auth::Role::kReader, request->namespace_()));
  absl::Status status = caller.status();
  if (caller.ok()) status = DoListEndpointSlices(*request, response, caller->readable);
  return FinishUnary(context, metrics_, "ListEndpointSlices", start, status);
}

absl::StatusOr<ListingPtr> DiscoveryService::BuildListing(
    const v1::ListEndpointSlicesRequest& request, std::string filter_key,
    const auth::NamespaceFilter& readable) const {
  SK_ASSIGN_OR_RETURN(query::LabelSelector selector,
                      query::LabelSelector::Parse(request.label_selector()));
  store::CatalogPtr catalog = store_->Snapshot(request.namespace_());
  auto listing = std::make_shared<Listing>();
  listing->revision = catalog->revision;
  listing->filter_key = std::move(filter_key);
  for (const store::ServiceSnapshotPtr& service : catalog->services) {
    if (!request.service().empty() && service->name != request.service()) continue;
    if (!readable.Allows(service->namespace_)) continue;
    for (const SlicePtr& slice : service->slices) {
      if (!request.service().empty() && slice->ServiceName() != request.service()) continue;
      if (!selector.Matches(slice->meta->labels())) continue;
      listing->slices.push_back(slice);
    }
  }
  // Kubernetes lists in key order: namespace, then name.
  std::sort(listing->slices.begin(), listing->slices.end(),
            [](const SlicePtr& a, const SlicePtr& b) {
              return std::tie(a->namespace_, a->name) < std::tie(b->namespace_, b->name);
            });
  return listing;
}

absl::Status DiscoveryService::DoListEndpointSlices(const v1::ListEndpointSlicesRequest& request,
                                                    v1::ListEndpointSlicesResponse* response,
                                                    const auth::NamespaceFilter& readable) {
  if (request.limit() < 0) return absl::InvalidArgumentError("limit: must be >= 0");
  // A token only continues the listing it was issued for, seen through the same namespaces.
  std::string filter_key = absl::StrCat(request.namespace_(), "\n", request.service(), "\n",
                                        request.label_selector(), "\n", readable.key());
  ContinueTokens::Page page;
  if (request.continue_().empty()) {
    SK_ASSIGN_OR_RETURN(page.listing, BuildListing(request, std::move(filter_key), readable));
  } else {
    SK_ASSIGN_OR_RETURN(page, tokens_.Get(request.continue_(), filter_key));
  }
  const int64_t total = static_cast<int64_t>(page.listing->slices.size());
  int64_t end = total;
  if (request.limit() > 0) end = std::min(total, page.offset + request.limit());
  response->mutable_slices()->Reserve(static_cast<int>(end - page.offset));
  for (int64_t i = page.offset; i < end; ++i) {
    *response->add_slices() = page.listing->slices[i]->ToProto();
  }
  if (end < total) response->set_continue_(tokens_.Put(page.listing, end));
  response->set_revision(page.listing->revision);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* DiscoveryService::ListServices(grpc::CallbackServerContext* context,
                                                         const v1::ListServicesRequest* request,
                                                         v1::ListServicesResponse* response) {
  const absl::Time start = absl::Now();
  absl::StatusOr<auth::Caller> caller =
      Admit(context, NamespaceRequest("ListServices", auth::Role::kReader, request->namespace_()));
  if (!caller.ok()) return FinishUnary(context, metrics_, "ListServices", start, caller.status());
  store::CatalogPtr catalog = store_->Snapshot(request->namespace_());
  response->mutable_services()->Reserve(static_cast<int>(catalog->services.size()));
  for (const store::ServiceSnapshotPtr& service : catalog->services) {
    if (!caller->readable.Allows(service->namespace_)) continue;
    *response->add_services() = query::Summarize(*service);
  }
  response->set_revision(catalog->revision);
  return FinishUnary(context, metrics_, "ListServices", start, absl::OkStatus());
}

grpc::ServerUnaryReactor* DiscoveryService::QueryEndpoints(grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* raw_request,
                                                           grpc::ByteBuffer* raw_response) {
  const absl::Time start = absl::Now();
  v1::QueryEndpointsRequest request;
  grpc::ByteBuffer copy(*raw_request);  // Deserialize consumes its buffer
  absl::Status status =
      grpc::SerializationTraits<v1::QueryEndpointsRequest>::Deserialize(&copy, &request).ok()
          ? absl::OkStatus()
          : absl::InvalidArgumentError("request: not a valid slicekeeper.v1.QueryEndpointsRequest");
  if (status.ok()) {
    status = Admit(context,
                   NamespaceRequest("QueryEndpoints", auth::Role::kReader, request.namespace_()))
                 .status();
  }
  if (status.ok()) {
    absl::StatusOr<Answer> answer = QueryEndpointsAnswer(request);
    status = answer.status();
    if (answer.ok()) *raw_response = AnswerBuffer(*answer);
  }
  return FinishUnary(context, metrics_, "QueryEndpoints", start, status);
}

absl::Status DiscoveryService::DoQueryEndpoints(const v1::QueryEndpointsRequest& request,
                                                v1::QueryEndpointsResponse* response) {
  SK_ASSIGN_OR_RETURN(Answer answer, QueryEndpointsAnswer(request));
  if (!response->ParseFromString(*answer.body)) {
    return absl::InternalError("QueryEndpoints: cached answer does not parse");
  }
  response->set_revision(answer.revision);
  return absl::OkStatus();
}

absl::StatusOr<DiscoveryService::Answer> DiscoveryService::QueryEndpointsAnswer(
    const v1::QueryEndpointsRequest& request) {
  SK_RETURN_IF_ERROR(Required("namespace", request.namespace_()));
  SK_RETURN_IF_ERROR(Required("service", request.service()));
  SK_RETURN_IF_ERROR(query::ValidateQuery(request));
  // Read the revision first: the snapshot taken after it is the service's state at
  // max(revision, mod_revision) (see the header).
  const int64_t revision = store_->revision();
  store::ServiceSnapshotPtr snapshot = store_->GetService(request.namespace_(), request.service());
  if (snapshot == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("service ", request.namespace_(), "/", request.service(), " not found"));
  }
  Answer answer;
  answer.revision = std::max(revision, snapshot->mod_revision);
  // The answer depends only on the request and the service's version: identical queries of one
  // version share one encoding. Deterministic serialization makes equal requests equal keys.
  std::string key;
  {
    google::protobuf::io::StringOutputStream out(&key);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  if (options_.answer_cache_bytes > 0) {
    absl::MutexLock l(&mu_);
    auto it = answers_.find(key);
    if (it != answers_.end() && it->second.snapshot == snapshot) {
      answer.body = it->second.body;
      return answer;
    }
  }
  query::MergedViews::Ptr merged = merged_views_->Get(snapshot);
  SK_ASSIGN_OR_RETURN(std::vector<v1::ServiceEndpoint> endpoints,
                      query::FilterEndpoints(merged->endpoints(), request));
  v1::QueryEndpointsResponse response;
  response.mutable_endpoints()->Reserve(static_cast<int>(endpoints.size()));
  for (v1::ServiceEndpoint& e : endpoints) *response.add_endpoints() = std::move(e);
  answer.body = std::make_shared<const std::string>(response.SerializeAsString());
  if (options_.answer_cache_bytes > 0) {
    const int64_t size = static_cast<int64_t>(answer.body->size() + key.size());
    absl::MutexLock l(&mu_);
    auto& entry = answers_[key];
    // Never replace a newer version's answer with an older one.
    if (entry.snapshot == nullptr || entry.snapshot->mod_revision <= snapshot->mod_revision) {
      if (entry.body != nullptr)
        answer_bytes_ -= static_cast<int64_t>(entry.body->size() + key.size());
      if (answer_bytes_ + size > options_.answer_cache_bytes) {
        answers_.clear();
        answer_bytes_ = 0;
      }
      answers_[key] = CachedAnswer{snapshot, answer.body};
      answer_bytes_ += size;
    }
  }
  return answer;
}

grpc::ByteBuffer DiscoveryService::AnswerBuffer(const Answer& answer) {
  // The shared body without a copy, then the revision field appended: protobuf messages
  // concatenate, so body + field 2 is the whole QueryEndpointsResponse.
  auto* owned = new std::shared_ptr<const std::string>(answer.body);
  grpc::Slice body(
      const_cast<char*>((*owned)->data()), (*owned)->size(),
      [](void* p) { delete static_cast<std::shared_ptr<const std::string>*>(p); }, owned);
  std::string tail;
  {
    v1::QueryEndpointsResponse revision_only;
    revision_only.set_revision(answer.revision);
    tail = revision_only.SerializeAsString();
  }
  grpc::Slice slices[2] = {std::move(body), grpc::Slice(tail)};
  return grpc::ByteBuffer(slices, 2);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* DiscoveryService::Watch(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) {
  const absl::Time start = absl::Now();
  auto request = std::make_unique<v1::WatchRequest>();
  grpc::ByteBuffer copy(*raw_request);  // Deserialize consumes its buffer
  // A request that does not parse is the client's fault: INVALID_ARGUMENT, not gRPC's INTERNAL.
  absl::Status status =
      grpc::SerializationTraits<v1::WatchRequest>::Deserialize(&copy, request.get()).ok()
          ? absl::OkStatus()
          : absl::InvalidArgumentError("request: not a valid slicekeeper.v1.WatchRequest");
  absl::StatusOr<watch::Selection> selection =
      status.ok() ? WatchSelection(*request) : absl::StatusOr<watch::Selection>(status);
  status = selection.status();
  // The watch needs a reader; one over every namespace sees only the caller's namespaces, and
  // holds one of the caller's stream slots while open.
  std::shared_ptr<auth::StreamLimiter::Slot> slot;
  if (status.ok()) {
    const auth::Request req = NamespaceRequest("Watch", auth::Role::kReader, request->namespace_());
    absl::StatusOr<auth::Caller> caller = Admit(context, req);
    status = caller.status();
    if (caller.ok()) selection->allowed_namespaces = caller->readable.set();
    if (caller.ok()) {
      auto acquired = auth::AcquireStream(options_.authorizer, *caller, req);
      status = acquired.status();
      if (acquired.ok()) slot = *std::move(acquired);
    }
  }
  if (status.ok()) selection->peer = context->peer();
  if (status.ok() && hub_ == nullptr) status = absl::UnavailableError("watch is not available");
  absl::MutexLock l(&watches_mu_);
  if (status.ok() && watches_closed_) status = absl::UnavailableError("server shutting down");
  if (!status.ok()) {
    if (metrics_ != nullptr) {
      metrics_->RecordRpc("Watch", ToGrpcStatus(status).error_code(), absl::Now() - start);
    }
    return new RejectedWatch(ToGrpcStatus(status));
  }
  auto* reactor =
      new WatchReactor(hub_, metrics_ != nullptr ? metrics_->watch_lag() : nullptr,
                       [this, start, slot = std::move(slot)](
                           WatchReactor* r, const grpc::Status& s) { OnWatchDone(r, s, start); });
  watches_.insert(reactor);
  reactor->Start(*std::move(selection), request->resume_revision());
  return reactor;
}

void DiscoveryService::OnWatchDone(WatchReactor* reactor, const grpc::Status& status,
                                   absl::Time start) {
  if (metrics_ != nullptr) metrics_->RecordRpc("Watch", status.error_code(), absl::Now() - start);
  absl::MutexLock l(&watches_mu_);
  watches_.erase(reactor);
}

void DiscoveryService::ShutdownWatches() {
  absl::MutexLock l(&watches_mu_);
  watches_closed_ = true;
  for (WatchReactor* reactor : watches_) reactor->BeginShutdown();
}

}  // namespace slicekeeper::api
