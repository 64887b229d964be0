// Helpers for talking to a real slicekeeper over gRPC in integration tests: stubs on one channel,
// a blocking call wrapper with a deadline, and builders for endpoint changes.
//
// Thread-safety: the stubs are thread-safe (gRPC's); the builders are plain functions.
//
// Example:
//   Clients c(server->grpc_address());
//   Rpc<v1::ChangeAck> ack = Call(c.registry.get(), &Registry::Stub::ApplyChanges,
//                                 Batch({Upsert("ns", "web", "10.0.0.1")}));
//   ASSERT_TRUE(ack.status.ok()) << Describe(ack.status);
#ifndef SLICEKEEPER_TESTS_INTEGRATION_CLIENT_UTIL_H_
#define SLICEKEEPER_TESTS_INTEGRATION_CLIENT_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "slicekeeper/v1/discovery.grpc.pb.h"
#include "slicekeeper/v1/registry.grpc.pb.h"

namespace slicekeeper::integration {

using Registry = v1::EndpointRegistry;
using Discovery = v1::EndpointDiscovery;

// Every RPC of a test gets this deadline, so a hung server fails the test instead of the suite.
inline constexpr absl::Duration kRpcTimeout = absl::Seconds(15);

inline void SetDeadline(grpc::ClientContext& context, absl::Duration timeout = kRpcTimeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

// "INVALID_ARGUMENT (3): <message>", for assertion messages.
inline std::string Describe(const grpc::Status& status) {
  return absl::StrCat("code ", static_cast<int>(status.error_code()), ": ", status.error_message());
}

struct Clients {
  explicit Clients(const std::string& address)
      : channel(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        registry(Registry::NewStub(channel)),
        discovery(Discovery::NewStub(channel)) {}

  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<Registry::Stub> registry;
  std::unique_ptr<Discovery::Stub> discovery;
};

// The outcome of one unary call.
template <typename Response>
struct Rpc {
  grpc::Status status;
  Response response;
};

// Calls a generated blocking unary method with a kRpcTimeout deadline.
template <typename Stub, typename Request, typename Response>
Rpc<Response> Call(Stub* stub,
                   grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                   const Request& request) {
  grpc::ClientContext context;
  SetDeadline(context);
  Rpc<Response> rpc;
  rpc.status = (stub->*method)(&context, request, &rpc.response);
  return rpc;
}

inline v1::EndpointPort Port(absl::string_view name, int32_t number,
                             absl::string_view protocol = "TCP") {
  v1::EndpointPort port;
  port.set_name(std::string(name));
  port.set_port(number);
  port.set_protocol(std::string(protocol));
  return port;
}

// An UPSERT of a ready endpoint `ip` (zone/node unset) serving port "http" 8080/TCP.
inline v1::EndpointChange Upsert(absl::string_view ns, absl::string_view service,
                                 absl::string_view ip) {
  v1::EndpointChange change;
  change.set_op(v1::EndpointChange::UPSERT);
  change.set_namespace_(std::string(ns));
  change.set_service(std::string(service));
  change.mutable_endpoint()->add_addresses(std::string(ip));
  change.mutable_endpoint()->mutable_conditions()->set_ready(true);
  *change.add_ports() = Port("http", 8080);
  return change;
}

inline v1::EndpointChange Remove(absl::string_view ns, absl::string_view service,
                                 absl::string_view ip) {
  v1::EndpointChange change;
  change.set_op(v1::EndpointChange::REMOVE);
  change.set_namespace_(std::string(ns));
  change.set_service(std::string(service));
  change.mutable_endpoint()->add_addresses(std::string(ip));
  return change;
}

// Sets the three conditions of a change's endpoint.
inline v1::EndpointChange WithConditions(v1::EndpointChange change, bool ready, bool serving,
                                         bool terminating) {
  v1::EndpointConditions* c = change.mutable_endpoint()->mutable_conditions();
  c->set_ready(ready);
  c->set_serving(serving);
  c->set_terminating(terminating);
  return change;
}

inline v1::ChangeBatch Batch(std::vector<v1::EndpointChange> changes, uint64_t batch_id = 0) {
  v1::ChangeBatch batch;
  batch.set_batch_id(batch_id);
  for (v1::EndpointChange& c : changes) *batch.add_changes() = std::move(c);
  return batch;
}

}  // namespace slicekeeper::integration

#endif  // SLICEKEEPER_TESTS_INTEGRATION_CLIENT_UTIL_H_
