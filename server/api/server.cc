#include "server/api/server.h"

#include <utility>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "server/api/internal/tls_credentials.h"
#include "server/http/admission.h"

namespace slicekeeper::api {
namespace {

constexpr const char* kServiceNames[] = {"", "slicekeeper.v1.EndpointRegistry",
                                         "slicekeeper.v1.EndpointDiscovery",
                                         "envoy.service.discovery.v3.AggregatedDiscoveryService"};

int Millis(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

}  // namespace

Server::Server(store::Store* store, Options options)
    : store_(store), options_(std::move(options)), registry_(options_.registry) {}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

absl::Status Server::Start() {
  if (started_) return absl::FailedPreconditionError("server already started");
  if (absl::Status tls = options_.tls.Validate(); !tls.ok()) return tls;
  started_ = true;
  if (registry_ == nullptr) {
    owned_registry_ = std::make_unique<metrics::Registry>();
    registry_ = owned_registry_.get();
  }
  metrics_ = std::make_unique<ApiMetrics>(registry_, store_);
  hub_ = std::make_unique<watch::Hub>(
      store_, watch::Hub::Options{.bookmark_interval = options_.bookmark_interval,
                                  .max_lag = options_.watch_max_lag,
                                  .merged_views = &merged_views_});
  registry_service_ = std::make_unique<RegistryService>(
      store_, metrics_.get(),
      RegistryService::Options{.max_batch_changes = options_.max_batch_changes,
                               .max_pending_acks = options_.max_pending_acks,
                               .apply_threads = options_.apply_threads,
                               .authorizer = options_.authorizer,
                               .hub = hub_.get()});
  xds_service_ = std::make_unique<xds::XdsService>(
      store_, hub_.get(), &merged_views_, registry_,
      xds::XdsService::Options{.authorizer = options_.authorizer});
  hub_->Start();
  metrics_->AddWatchMetrics(registry_, hub_.get());
  discovery_service_ = std::make_unique<DiscoveryService>(
      store_, metrics_.get(), hub_.get(),
      DiscoveryService::Options{.continue_tokens = options_.continue_tokens,
                                .merged_views = &merged_views_,
                                .authorizer = options_.authorizer});

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.listen_address, internal::ServerCredentials(options_.tls),
                           &port);
  builder.RegisterService(registry_service_.get());
  builder.RegisterService(discovery_service_.get());
  xds_service_->Register(&builder);
  builder.SetMaxReceiveMessageSize(options_.max_recv_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(options_.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Millis(options_.keepalive_timeout));
  // Let clients ping (keepalive) as often as every 10 s, even on idle streams, so dead peers
  // surface as cancellations instead of stuck writes.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on grpc address ", options_.listen_address));
  }
  grpc_port_.store(port, std::memory_order_release);
  LogTransportSecurity();
  for (const char* name : kServiceNames) {
    server_->GetHealthCheckService()->SetServingStatus(name, true);
  }
  ready_.store(true, std::memory_order_release);
  health_thread_ = std::thread([this] { FollowStoreHealth(); });
  if (!options_.http_listen_address.empty()) return StartHttp();
  return absl::OkStatus();
}

void Server::LogTransportSecurity() const {
  const auth::TlsOptions& tls = options_.tls;
  if (tls.enabled()) {
    static constexpr const char* kModes[] = {"none", "request", "require"};
    spdlog::info("grpc TLS on: cert={} client_auth={} reload_interval={}", tls.cert_file,
                 kModes[static_cast<int>(tls.client_auth)],
                 absl::FormatDuration(tls.reload_interval));
  } else if (!auth::IsLoopbackAddress(options_.listen_address)) {
    spdlog::warn(
        "INSECURE: grpc listens on {} without TLS: anyone who reaches it can read and rewrite "
        "every service's endpoints; set --tls_cert_file/--tls_key_file (docs/security.md)",
        options_.listen_address);
  }
  const std::string& http = options_.http_listen_address;
  if (!http.empty() && tls.enabled()) {
    spdlog::info("http TLS on: the same certificate and client_auth as grpc");
  } else if (!http.empty() && !auth::IsLoopbackAddress(http)) {
    spdlog::warn(
        "INSECURE: the HTTP port {} is plaintext: anyone who reaches it can read every "
        "service's endpoints and sniff bearer tokens; set --tls_cert_file/--tls_key_file "
        "(docs/security.md)",
        http);
  }
}

absl::Status Server::StartHttp() {
  http_ = std::make_unique<http::HttpServer>(
      http::HttpServer::Options{.listen_address = options_.http_listen_address,
                                .num_threads = options_.http_threads,
                                .max_streams = options_.http_max_streams,
                                .tls = options_.tls,
                                .admit = http::AuthorizerAdmission(options_.authorizer)});
  ops_ = std::make_unique<metrics::OpsHandler>(
      metrics::OpsHandler::Options{.registry = registry_, .ready = [this] { return ready(); }});
  ops_->Install(http_.get());
  if (options_.kubernetes_api) {
    kubernetes_ = std::make_unique<k8s::KubernetesApi>(
        store_, hub_.get(),
        k8s::KubernetesApi::Options{.min_watch_timeout = options_.k8s_min_watch_timeout,
                                    .authorizer = options_.authorizer});
    kubernetes_->Install(http_.get());
  }
  if (options_.operator_view) {
    operator_view_ = std::make_unique<ui::OperatorView>(
        store_, hub_.get(),
        ui::OperatorView::Options{.storage_backend = options_.storage_backend,
                                  .max_endpoints_per_slice = options_.max_endpoints_per_slice,
                                  .propagation_lag = metrics_->watch_lag()});
    operator_view_->Install(http_.get());
    operator_view_->Start();
  }
  absl::StatusOr<int> port = http_->Start();
  if (!port.ok()) return port.status();
  http_port_.store(*port, std::memory_order_release);
  return absl::OkStatus();
}

void Server::FollowStoreHealth() {
  bool serving = true;
  while (!stop_health_.WaitForNotificationWithTimeout(options_.health_interval)) {
    const absl::Status health = store_->health();
    if (health.ok() == serving) continue;
    serving = health.ok();
    if (serving) {
      spdlog::info("store serving again: health SERVING");
    } else {
      spdlog::error("store not serving: health NOT_SERVING error=\"{}\"",
                    std::string(health.message()));
    }
    for (const char* name : kServiceNames) {
      server_->GetHealthCheckService()->SetServingStatus(name, serving);
    }
  }
}

void Server::Shutdown(absl::Duration deadline) {
  if (!started_ || stopped_) return;
  stopped_ = true;
  ready_.store(false, std::memory_order_release);
  stop_health_.Notify();
  if (health_thread_.joinable()) health_thread_.join();
  if (server_ != nullptr) {
    // NOT_SERVING for every service, and no later status change takes effect.
    server_->GetHealthCheckService()->Shutdown();
    registry_service_->ShutdownStreams();
    // The hub stops waking reactors first, so no write starts after a watch began to finish.
    hub_->Stop();
    discovery_service_->ShutdownWatches();
    xds_service_->ShutdownStreams();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + deadline));
    server_->Wait();
  }
  if (http_ != nullptr) http_->Stop();
  if (operator_view_ != nullptr) operator_view_->Stop();
}

}  // namespace slicekeeper::api
