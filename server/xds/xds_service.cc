#include "server/xds/xds_service.h"

#include <utility>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
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
    return owner_->Open<SotwSession>(context, std::nullopt);
  }
  Reactor<DeltaSession>* DeltaAggregatedResources(grpc::CallbackServerContext* context) override {
    return owner_->Open<DeltaSession>(context, std::nullopt);
  }

 private:
  XdsService* const owner_;
};

XdsService::XdsService(const store::Store* store, watch::Hub* hub, query::MergedViews* views,
                       metrics::Registry* registry, Options options)
    : hub_(hub),
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

void XdsService::Register(grpc::ServerBuilder* builder) {
  builder->RegisterService(ads_.get());
}

void XdsService::ShutdownStreams() {
  absl::MutexLock l(&mu_);
  shutting_down_ = true;
  for (internal::Stream* s : streams_) s->BeginShutdown();
}

grpc::Status XdsService::Authorize(grpc::CallbackServerContext* context) const {
  // The authentication / authorization layer every front-end shares checks the caller here
  // (its identity from context->auth_context(), the role a reader of endpoints needs).
  return grpc::Status::OK;
}

template <typename SessionT>
Reactor<SessionT>* XdsService::Open(grpc::CallbackServerContext* context,
                                    std::optional<ResourceType> fixed_type) {
  using Reject = internal::RejectReactor<typename SessionT::Request, typename SessionT::Response>;
  if (grpc::Status s = Authorize(context); !s.ok()) return new Reject(s);
  auto reactor = std::make_unique<internal::AdsReactor<SessionT>>(
      internal::StreamDeps{hub_, &cache_, metrics_.get(),
                           [this](internal::Stream* s) { OnStreamDone(s); }},
      fixed_type);
  {
    absl::MutexLock l(&mu_);
    // Not started yet, so not gRPC's: a refused reactor is simply deleted.
    if (shutting_down_) return new Reject(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
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
