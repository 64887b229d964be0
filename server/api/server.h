// Server: the gRPC server of slicekeeper and its HTTP side port, wired over one Store.
//
// Start() starts the watch hub and builds a grpc::Server with EndpointRegistry, EndpointDiscovery
// (with Watch), the xDS control plane (ADS, EDS, CDS: server/xds/xds_service.h), the standard
// health service (SERVING for "", "slicekeeper.v1.EndpointRegistry",
// "slicekeeper.v1.EndpointDiscovery" and "envoy.service.discovery.v3.AggregatedDiscoveryService")
// and server reflection, then starts the HTTP port (/metrics, /healthz, /readyz, and the Kubernetes
// API of server/k8s unless Options::kubernetes_api is off, the operator page of server/ui unless
// Options::operator_view is off) unless its address is empty. While
// running, the health service follows the store: NOT_SERVING while
// Store::serving() is false (a replica whose follower stopped, a store whose log sync failed),
// checked every Options::health_interval. Shutdown() is the graceful stop: health NOT_SERVING (and
// /readyz 503), open StreamChanges streams end with UNAVAILABLE after acking what they read, open
// watches and xDS streams end with UNAVAILABLE after the write in flight, the server stops
// accepting and waits for in-flight calls until the deadline (then cancels them), and the HTTP
// port closes.
//
// Security (docs/security.md): Options::tls puts the gRPC listener and the HTTP port on TLS
// (mTLS with a client CA), certificates reloaded from disk while running; Options::authorizer
// authenticates, authorizes, audits and limits every front-end: the gRPC API and xDS per RPC, the
// HTTP port
// (/metrics, the Kubernetes API) through its admission hook (null: open, as a unit test's
// server).
// Start() warns loudly when the gRPC or the HTTP address is not loopback and TLS is off.
//
// Transport settings: max concurrent streams, keepalive with client pings permitted, and the max
// receive message size, from Options.
//
// Thread-safety: Start and Shutdown must be called from one thread (the owner's); the port
// accessors and ready() may be called from any thread.
//
// Example:
//   store::Store store(store::Store::Options{});
//   api::Server server(&store, api::Server::Options{.listen_address = "127.0.0.1:0"});
//   SK_RETURN_IF_ERROR(server.Start());
//   ... server.grpc_port() ...
//   server.Shutdown(absl::Seconds(10));
#ifndef SLICEKEEPER_SERVER_API_SERVER_H_
#define SLICEKEEPER_SERVER_API_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <grpcpp/server.h>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/api/api_metrics.h"
#include "server/api/continue_tokens.h"
#include "server/api/discovery_service.h"
#include "server/api/registry_service.h"
#include "server/auth/authorizer.h"
#include "server/auth/tls_options.h"
#include "server/http/http_server.h"
#include "server/k8s/api.h"
#include "server/metrics/metrics.h"
#include "server/metrics/ops_handler.h"
#include "server/query/merged_views.h"
#include "server/store/store.h"
#include "server/ui/operator_view.h"
#include "server/watch/hub.h"
#include "server/xds/xds_service.h"

namespace slicekeeper::api {

class Server {
 public:
  struct Options {
    // gRPC "host:port"; port 0 picks a free port (see grpc_port()).
    std::string listen_address = "127.0.0.1:50051";
    // HTTP "host:port" for /metrics, /healthz, /readyz and the Kubernetes API; port 0 picks
    // one; "" disables it.
    std::string http_listen_address = "127.0.0.1:9090";
    // HTTP worker threads, and how many of them streams (Kubernetes watches) may hold at once
    // (see http::HttpServer).
    int http_threads = 64;
    int http_max_streams = 48;
    // Serve the Kubernetes API (server/k8s/api.h) on the HTTP port.
    bool kubernetes_api = true;
    // Kubernetes watches without timeoutSeconds end after [min, 2 * min).
    absl::Duration k8s_min_watch_timeout = absl::Minutes(30);
    // Serve the operator page and its JSON API (server/ui/operator_view.h) on the HTTP port.
    bool operator_view = true;
    // For the operator page: the storage backend's name and the slice capacity (fill %).
    std::string storage_backend = "memory";
    int max_endpoints_per_slice = 100;
    int64_t max_batch_changes = 10'000;
    int max_recv_message_bytes = 16 << 20;
    int max_concurrent_streams = 10'000;
    absl::Duration keepalive_time = absl::Seconds(30);
    absl::Duration keepalive_timeout = absl::Seconds(10);
    // Per StreamChanges stream: acks waiting to be written before reading pauses.
    int max_pending_acks = 64;
    // Threads that apply StreamChanges batches off gRPC's threads (0: inline). Use them when
    // writes block (replicated storage: a round trip each), so concurrent streams share round
    // trips. A group-commit store does not block its writers and needs none.
    int apply_threads = 0;
    // Watch: BOOKMARK interval for idle streams that asked for them, and the age of the oldest
    // unsent change after which a subscriber is RESET (its pinned state freed).
    absl::Duration bookmark_interval = absl::Seconds(10);
    absl::Duration watch_max_lag = absl::Seconds(60);
    // How often the health service's status is brought in line with Store::serving().
    absl::Duration health_interval = absl::Seconds(1);
    ContinueTokens::Options continue_tokens;
    // Not owned; null: the server owns a registry of its own.
    metrics::Registry* registry = nullptr;
    // TLS / mTLS of the gRPC listener; disabled by default.
    auth::TlsOptions tls;
    // Not owned; must outlive the server. Null: every RPC allowed, nothing audited.
    auth::Authorizer* authorizer = nullptr;
  };

  // `store` must outlive the server. Does no work.
  Server(store::Store* store, Options options);
  // Shuts down (with a zero deadline) if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds both ports and starts serving. Errors: UNAVAILABLE (a port could not be bound),
  // FAILED_PRECONDITION (already started), INVALID_ARGUMENT (TLS options, see
  // TlsOptions::Validate).
  absl::Status Start();

  // Graceful stop within `deadline` (see the banner). Idempotent.
  void Shutdown(absl::Duration deadline);

  // The bound ports (0 before Start, or for a disabled HTTP port).
  int grpc_port() const { return grpc_port_.load(std::memory_order_acquire); }
  int http_port() const { return http_port_.load(std::memory_order_acquire); }
  // True between a successful Start and Shutdown.
  // Started, not shutting down, and the store is serving (a replica following its log).
  bool ready() const { return ready_.load(std::memory_order_acquire) && store_->serving(); }

  metrics::Registry* registry() { return registry_; }

 private:
  absl::Status StartHttp();
  // The start-up line about TLS, or the loud warning for a non-loopback plaintext listener.
  void LogTransportSecurity() const;
  // The health thread: SERVING / NOT_SERVING after Store::serving(), until Shutdown.
  void FollowStoreHealth();

  store::Store* const store_;
  const Options options_;
  std::unique_ptr<metrics::Registry> owned_registry_;
  metrics::Registry* registry_;
  std::unique_ptr<ApiMetrics> metrics_;
  // Merged endpoint views shared by QueryEndpoints and the watch ENDPOINTS view.
  query::MergedViews merged_views_;
  std::unique_ptr<watch::Hub> hub_;
  std::unique_ptr<RegistryService> registry_service_;
  std::unique_ptr<DiscoveryService> discovery_service_;
  std::unique_ptr<xds::XdsService> xds_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<metrics::OpsHandler> ops_;
  std::unique_ptr<k8s::KubernetesApi> kubernetes_;
  std::unique_ptr<ui::OperatorView> operator_view_;
  // Declared after its handlers: destroyed (its threads joined) before them.
  std::unique_ptr<http::HttpServer> http_;
  std::atomic<int> grpc_port_{0};
  std::atomic<int> http_port_{0};
  std::atomic<bool> ready_{false};
  absl::Notification stop_health_;
  std::thread health_thread_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace slicekeeper::api

#endif  // SLICEKEEPER_SERVER_API_SERVER_H_
