#include "server/xds/xds_service.h"

#include <utility>

#include "common/status_util.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "server/auth/grpc_peer.h"
#include "server/xds/internal/ads_reactor.h"
#include "server/xds/internal/delta_session.h"
#include "server/xds/internal/sotw_session.h"

namespace slicekeeper::xds {

using internal::DeltaSession;
using internal::SotwSession;
template <typename SessionT>
using Reactor = grpc::ServerBidiReactor<typename SessionT::Request, typename SessionT::Response>;

class XdsService::Ads final
    : public envoy::service::discovery::v3::AggregatedDiscoveryService::CallbackService {
 public:
  explicit Ads(XdsService* owner) : owner_(owner) {}
  Reactor<SotwSession>* StreamAggregatedResources(grpc::CallbackServerContext* context) override {
    return owner_->Open<SotwSession>(context, std::nullopt, "StreamAggregatedResources");
  }
  Reactor<DeltaSession>* DeltaAggregatedResources(grpc::CallbackServerContext* context) override {
    return owner_->Open<DeltaSession>(context, std::nullopt, "DeltaAggregatedResources");
  }

 private:
  XdsService* const owner_;
};

XdsService::XdsService(const store::Store* store, watch::Hub* hub, query::MergedViews* views,
                       metrics::Registry* registry, Options options)
    : hub_(hub),
      authorizer_(options.authorizer),
      cache_(store, views, options.cache),
      ads_(std::make_unique<Ads>(this)) {
  if (registry != nullptr) {
    metrics_ = std::make_unique<XdsMetrics>(
        registry, [this] { return static_cast<double>(cache_.builds()); });
  }
}

XdsService::~XdsService() {
  absl::MutexLock l(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_set<internal::Stream*>* s) { return s->empty(); }, &streams_));
}

void XdsService::Register(grpc::ServerBuilder* builder) { builder->RegisterService(ads_.get()); }

void XdsService::ShutdownStreams() {
  absl::MutexLock l(&mu_);
  shutting_down_ = true;
  for (internal::Stream* s : streams_) s->BeginShutdown();
}

absl::StatusOr<internal::Admitted> XdsService::Authorize(grpc::CallbackServerContext* context,
                                                         absl::string_view rpc) const {
  // A reader of some namespace; it sees the services of the namespaces it may read.
  const auth::Request request{
      .rpc = std::string(rpc), .role = auth::Role::kReader, .all_namespaces = true};
  absl::StatusOr<auth::Caller> caller = auth::Admit(authorizer_, auth::PeerOf(*context), request);
  if (!caller.ok()) return caller.status();
  absl::StatusOr<std::unique_ptr<auth::StreamLimiter::Slot>> slot =
      auth::AcquireStream(authorizer_, *caller, request);
  if (!slot.ok()) return slot.status();
  return internal::Admitted{.readable = caller->readable.set(), .slot = *std::move(slot)};
}

template <typename SessionT>
Reactor<SessionT>* XdsService::Open(grpc::CallbackServerContext* context,
                                    std::optional<ResourceType> fixed_type, absl::string_view rpc) {
  using Reject = internal::RejectReactor<typename SessionT::Request, typename SessionT::Response>;
  absl::StatusOr<internal::Admitted> admitted = Authorize(context, rpc);
  if (!admitted.ok()) return new Reject(ToGrpcStatus(admitted.status()));
  auto reactor = std::make_unique<internal::AdsReactor<SessionT>>(
      internal::StreamDeps{hub_, &cache_, metrics_.get(),
                           [this](internal::Stream* s) { OnStreamDone(s); }},
      fixed_type, *std::move(admitted));
  {
    absl::MutexLock l(&mu_);
    // Not started yet, so not gRPC's: a refused reactor is simply deleted.
    if (shutting_down_)
      return new Reject(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
    streams_.insert(reactor.get());
  }
  reactor->Start();
  return reactor.release();  // gRPC's now; it deletes itself in OnDone
}

void XdsService::OnStreamDone(internal::Stream* stream) {
  absl::MutexLock l(&mu_);
  streams_.erase(stream);
}

}  // namespace slicekeeper::xds
