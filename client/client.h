// Client: a typed client over slicekeeper's two services, EndpointRegistry (writes) and
// EndpointDiscovery (reads).
//
// Every unary call gets a deadline (Options::deadline, or the per-call override). Reads are
// idempotent, so they are retried on UNAVAILABLE with jittered exponential backoff, moving to the
// next server address on each failure (failover); writes are sent once and never retried, since a
// write whose answer was lost may have been applied. Errors come back as absl::Status with the
// server's canonical code and message (NOT_FOUND, INVALID_ARGUMENT naming the field, ...);
// DEADLINE_EXCEEDED when the deadline passes; UNAVAILABLE when every attempt failed.
//
// Streams (Watch, StreamChanges) are opened by the caller on the stubs of the current address
// (`discovery()`, `registry()`); call `Failover()` after a stream fails with UNAVAILABLE to move
// to the next address. The Subscriber (client/subscriber.h) does that for Watch.
//
// Thread-safety: thread-safe. Calls may run concurrently from any number of threads; the current
// address is an atomic index.
//
// Example:
//   ClientOptions options;
//   options.addresses = {"10.0.0.1:50051", "10.0.0.2:50051"};
//   absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
//   absl::StatusOr<v1::QueryEndpointsResponse> r = (*client)->QueryEndpoints(request);
#ifndef SLICEKEEPER_CLIENT_CLIENT_H_
#define SLICEKEEPER_CLIENT_CLIENT_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/credentials.h"
#include "common/backoff.h"
#include "slicekeeper/v1/discovery.grpc.pb.h"
#include "slicekeeper/v1/registry.grpc.pb.h"

namespace slicekeeper::client {

struct ClientOptions {
  // host:port of each server (replicas of one store); the first is tried first. At least one.
  std::vector<std::string> addresses = {"127.0.0.1:50051"};
  // Default deadline of each unary call (each attempt of a retried read).
  absl::Duration deadline = absl::Seconds(10);
  // Attempts per read at most (1 = no retry).
  int max_read_attempts = 5;
  BackoffOptions backoff;
  // Null: built from `security` (insecure when it is empty; see credentials.h).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // TLS, client certificate and bearer token (--ca, --cert, --key, --token).
  SecurityOptions security;
  // Client keepalive pings, so a dead server surfaces on an idle Watch.
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // Largest message accepted (a Watch snapshot message is about 1 MiB).
  int max_receive_message_bytes = 64 << 20;
};

// Per-call overrides.
struct CallOptions {
  std::optional<absl::Duration> deadline;
};

class Client {
 public:
  // Builds one channel per address (connections are made lazily on first use).
  // Errors: INVALID_ARGUMENT when `addresses` is empty or max_read_attempts < 1.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // --- Reads (EndpointDiscovery): retried on UNAVAILABLE with failover. ---
  absl::StatusOr<v1::GetEndpointSliceResponse> GetEndpointSlice(absl::string_view ns,
                                                                absl::string_view name,
                                                                CallOptions call = {});
  absl::StatusOr<v1::ListEndpointSlicesResponse> ListEndpointSlices(
      const v1::ListEndpointSlicesRequest& request, CallOptions call = {});
  // Every page of a listing, concatenated (continue tokens followed); revision of the first page.
  absl::StatusOr<v1::ListEndpointSlicesResponse> ListAllEndpointSlices(
      v1::ListEndpointSlicesRequest request, CallOptions call = {});
  absl::StatusOr<v1::ListServicesResponse> ListServices(absl::string_view ns,
                                                        CallOptions call = {});
  absl::StatusOr<v1::QueryEndpointsResponse> QueryEndpoints(
      const v1::QueryEndpointsRequest& request, CallOptions call = {});

  // --- Writes (EndpointRegistry): sent once. ---
  absl::StatusOr<v1::ChangeAck> ApplyChanges(const v1::ChangeBatch& batch, CallOptions call = {});
  absl::StatusOr<v1::ChangeAck> ReplaceEndpoints(const v1::ReplaceEndpointsRequest& request,
                                                 CallOptions call = {});
  absl::StatusOr<v1::UpsertServiceResponse> UpsertService(const v1::ServiceRecord& record,
                                                          CallOptions call = {});
  absl::StatusOr<v1::DeleteServiceResponse> DeleteService(absl::string_view ns,
                                                          absl::string_view name,
                                                          CallOptions call = {});
  absl::StatusOr<v1::PutEndpointSliceResponse> PutEndpointSlice(const v1::EndpointSlice& slice,
                                                                CallOptions call = {});
  absl::StatusOr<v1::DeleteEndpointSliceResponse> DeleteEndpointSlice(absl::string_view ns,
                                                                      absl::string_view name,
                                                                      CallOptions call = {});
  absl::StatusOr<v1::PutNodesResponse> PutNodes(const v1::PutNodesRequest& request,
                                                CallOptions call = {});

  // --- Streams and failover. ---

  // Stubs of the current address. The pointers stay valid for the Client's lifetime.
  v1::EndpointDiscovery::Stub* discovery();
  v1::EndpointRegistry::Stub* registry();
  // The current address.
  const std::string& address() const;
  // Moves to the next address (round robin); a no-op with one address.
  void Failover();

  const ClientOptions& options() const { return options_; }

 private:
  struct Endpoint {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::EndpointDiscovery::Stub> discovery;
    std::unique_ptr<v1::EndpointRegistry::Stub> registry;
  };

  explicit Client(ClientOptions options);

  // Runs `attempt(endpoint, context)` up to max_read_attempts times while it fails UNAVAILABLE.
  template <typename Response, typename Fn>
  absl::StatusOr<Response> Read(const CallOptions& call, Fn attempt);
  template <typename Response, typename Fn>
  absl::StatusOr<Response> Write(const CallOptions& call, Fn attempt);
  void SetDeadline(const CallOptions& call, grpc::ClientContext* context) const;

  // Immutable after construction.
  const ClientOptions options_;
  std::vector<Endpoint> endpoints_;

  std::atomic<size_t> current_{0};
};

}  // namespace slicekeeper::client

#endif  // SLICEKEEPER_CLIENT_CLIENT_H_
