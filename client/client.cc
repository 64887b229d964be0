#include "client/client.h"

#include <utility>

#include "absl/time/clock.h"
#include "common/status_util.h"

namespace slicekeeper::client {

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.addresses.empty()) return absl::InvalidArgumentError("addresses: none given");
  if (options.max_read_attempts < 1) {
    return absl::InvalidArgumentError("max_read_attempts: must be >= 1");
  }
  if (options.credentials == nullptr) {
    auto creds = ChannelCredentials(options.security);
    if (!creds.ok()) return creds.status();
    options.credentials = *std::move(creds);
  }
  return std::unique_ptr<Client>(new Client(std::move(options)));
}

Client::Client(ClientOptions options) : options_(std::move(options)) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, absl::ToInt64Milliseconds(options_.keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, absl::ToInt64Milliseconds(options_.keepalive_timeout));
  // Watches are often idle: pings must be allowed without active calls' data.
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetMaxReceiveMessageSize(options_.max_receive_message_bytes);
  // Reconnect quickly after a server restart; our own backoff paces the retries.
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays at its 20 s: gRPC also uses it as the time one
  // connection attempt may take (MIN_CONNECT_TIMEOUT). At 100 ms a connect to a busy server
  // (a loaded CI machine) was cut off mid-handshake ("tcp handshaker shutdown") and the first
  // write failed UNAVAILABLE. A refused connection still fails at once.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A failed connection asks the resolver to re-resolve; its default cooldown (30 s) would hold
  // a restarted server's address back that long.
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 500);
  auto creds = options_.credentials ? options_.credentials : grpc::InsecureChannelCredentials();
  for (const std::string& address : options_.addresses) {
    Endpoint e;
    e.address = address;
    e.channel = grpc::CreateCustomChannel(address, creds, args);
    e.discovery = v1::EndpointDiscovery::NewStub(e.channel);
    e.registry = v1::EndpointRegistry::NewStub(e.channel);
    endpoints_.push_back(std::move(e));
  }
}

void Client::SetDeadline(const CallOptions& call, grpc::ClientContext* context) const {
  const absl::Duration d = call.deadline.value_or(options_.deadline);
  context->set_deadline(absl::ToChronoTime(absl::Now() + d));
}

template <typename Response, typename Fn>
absl::StatusOr<Response> Client::Read(const CallOptions& call, Fn attempt) {
  Backoff backoff(options_.backoff);
  absl::Status last;
  for (int i = 0; i < options_.max_read_attempts; ++i) {
    if (i > 0) absl::SleepFor(backoff.Next());
    const size_t index = current_.load() % endpoints_.size();
    grpc::ClientContext context;
    SetDeadline(call, &context);
    Response response;
    grpc::Status status = attempt(endpoints_[index], &context, &response);
    if (status.ok()) return response;
    last = FromGrpcStatus(status);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return last;
    // Move on only if nobody else did meanwhile, so concurrent failures advance one step.
    size_t expected = index;
    current_.compare_exchange_strong(expected, (index + 1) % endpoints_.size());
  }
  return last;
}

template <typename Response, typename Fn>
absl::StatusOr<Response> Client::Write(const CallOptions& call, Fn attempt) {
  const size_t index = current_.load() % endpoints_.size();
  grpc::ClientContext context;
  SetDeadline(call, &context);
  Response response;
  grpc::Status status = attempt(endpoints_[index], &context, &response);
  if (!status.ok()) {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      size_t expected = index;
      current_.compare_exchange_strong(expected, (index + 1) % endpoints_.size());
    }
    return FromGrpcStatus(status);
  }
  return response;
}

absl::StatusOr<v1::GetEndpointSliceResponse> Client::GetEndpointSlice(absl::string_view ns,
                                                                      absl::string_view name,
                                                                      CallOptions call) {
  v1::GetEndpointSliceRequest request;
  request.set_namespace_(std::string(ns));
  request.set_name(std::string(name));
  return Read<v1::GetEndpointSliceResponse>(call, [&](Endpoint& e, auto* ctx, auto* out) {
    return e.discovery->GetEndpointSlice(ctx, request, out);
  });
}

absl::StatusOr<v1::ListEndpointSlicesResponse> Client::ListEndpointSlices(
    const v1::ListEndpointSlicesRequest& request, CallOptions call) {
  return Read<v1::ListEndpointSlicesResponse>(call, [&](Endpoint& e, auto* ctx, auto* out) {
    return e.discovery->ListEndpointSlices(ctx, request, out);
  });
}

absl::StatusOr<v1::ListEndpointSlicesResponse> Client::ListAllEndpointSlices(
    v1::ListEndpointSlicesRequest request, CallOptions call) {
  v1::ListEndpointSlicesResponse all;
  bool first = true;
  do {
    absl::StatusOr<v1::ListEndpointSlicesResponse> page = ListEndpointSlices(request, call);
    if (!page.ok()) return page.status();
    if (first) all.set_revision(page->revision());
    first = false;
    for (auto& s : *page->mutable_slices()) *all.add_slices() = std::move(s);
    request.set_continue_(page->continue_());
  } while (!request.continue_().empty());
  return all;
}

absl::StatusOr<v1::ListServicesResponse> Client::ListServices(absl::string_view ns,
                                                              CallOptions call) {
  v1::ListServicesRequest request;
  request.set_namespace_(std::string(ns));
  return Read<v1::ListServicesResponse>(call, [&](Endpoint& e, auto* ctx, auto* out) {
    return e.discovery->ListServices(ctx, request, out);
  });
}

absl::StatusOr<v1::QueryEndpointsResponse> Client::QueryEndpoints(
    const v1::QueryEndpointsRequest& request, CallOptions call) {
  return Read<v1::QueryEndpointsResponse>(call, [&](Endpoint& e, auto* ctx, auto* out) {
    return e.discovery->QueryEndpoints(ctx, request, out);
  });
}

absl::StatusOr<v1::ChangeAck> Client::ApplyChanges(const v1::ChangeBatch& batch, CallOptions call) {
  return Write<v1::ChangeAck>(call, [&](Endpoint& e, auto* ctx, auto* out) {
    return e.registry->ApplyChanges(ctx, batch, out);
  });
}

absl::StatusOr<v1::ChangeAck> Client::ReplaceEndpoints(const v1::ReplaceEndpointsRequest& request,
                                                       CallOptions call) {
  return Write<v1::ChangeAck>(call, [&](Endpoint& e, auto* ctx, auto* out) {
    return e.registry->ReplaceEndpoints(ctx, request, out);
  });
}

absl::StatusOr<v1::UpsertServiceResponse> Client::UpsertService(const v1::ServiceRecord& record,
                                                                CallOptions call) {
  v1::UpsertServiceRequest request;
  *request.mutable_service() = record;
  return Write<v1::UpsertServiceResponse>(call, [&](Endpoint& e, auto* ctx, auto* out) {
    return e.registry->UpsertService(ctx, request, out);
  });
}

absl::StatusOr<v1::DeleteServiceResponse> Client::DeleteService(absl::string_view ns,
                                                                absl::string_view name,
                                                                CallOptions call) {
  v1::DeleteServiceRequest request;
  request.set_namespace_(std::string(ns));
  request.set_name(std::string(name));
  return Write<v1::DeleteServiceResponse>(call, [&](Endpoint& e, auto* ctx, auto* out) {
    return e.registry->DeleteService(ctx, request, out);
  });
}

absl::StatusOr<v1::PutEndpointSliceResponse> Client::PutEndpointSlice(
    const v1::EndpointSlice& slice, CallOptions call) {
  v1::PutEndpointSliceRequest request;
  *request.mutable_slice() = slice;
  return Write<v1::PutEndpointSliceResponse>(call, [&](Endpoint& e, auto* ctx, auto* out) {
    return e.registry->PutEndpointSlice(ctx, request, out);
  });
}

absl::StatusOr<v1::DeleteEndpointSliceResponse> Client::DeleteEndpointSlice(absl::string_view ns,
                                                                            absl::string_view name,
                                                                            CallOptions call) {
  v1::DeleteEndpointSliceRequest request;
  request.set_namespace_(std::string(ns));
  request.set_name(std::string(name));
  return Write<v1::DeleteEndpointSliceResponse>(call, [&](Endpoint& e, auto* ctx, auto* out) {
    return e.registry->DeleteEndpointSlice(ctx, request, out);
  });
}

absl::StatusOr<v1::PutNodesResponse> Client::PutNodes(const v1::PutNodesRequest& request,
                                                      CallOptions call) {
  return Write<v1::PutNodesResponse>(call, [&](Endpoint& e, auto* ctx, auto* out) {
    return e.registry->PutNodes(ctx, request, out);
  });
}

v1::EndpointDiscovery::Stub* Client::discovery() {
  return endpoints_[current_.load() % endpoints_.size()].discovery.get();
}

v1::EndpointRegistry::Stub* Client::registry() {
  return endpoints_[current_.load() % endpoints_.size()].registry.get();
}

const std::string& Client::address() const {
  return endpoints_[current_.load() % endpoints_.size()].address;
}

void Client::Failover() { current_.store((current_.load() + 1) % endpoints_.size()); }

}  // namespace slicekeeper::client
