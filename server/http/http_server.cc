#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <microhttpd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/http/internal/exchange.h"
#include "server/http/internal/tls.h"
#include "spdlog/spdlog.h"

namespace slicekeeper::http {
namespace {

using internal::Exchange;

// Responses still being sent when Stop is called get at most this long.
constexpr absl::Duration kStopDrain = absl::Seconds(1);

// "host:port", "[v6]:port" or "port" as a socket address. `v6` tells which member is set.
absl::Status ParseListenAddress(absl::string_view address, sockaddr_in* v4, sockaddr_in6* v6,
                                bool* is_v6) {
  absl::string_view host, port = address;
  const size_t colon = address.rfind(':');
  if (colon != absl::string_view::npos) {
    if (colon == 0) return absl::InvalidArgumentError("listen_address: empty host");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  int n = 0;
  if (!absl::SimpleAtoi(port, &n) || n < 0 || n > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen_address: bad port in \"", address, "\""));
  }
  *is_v6 = absl::StartsWith(host, "[") && absl::EndsWith(host, "]");
  if (*is_v6) {
    const std::string h(host.substr(1, host.size() - 2));
    *v6 = {};
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(n));
    if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("listen_address: bad host in \"", address, "\""));
    }
    return absl::OkStatus();
  }
  std::string h(host);
  if (h.empty()) h = "0.0.0.0";
  if (h == "localhost") h = "127.0.0.1";
  *v4 = {};
  v4->sin_family = AF_INET;
  v4->sin_port = htons(static_cast<uint16_t>(n));
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen_address: bad host in \"", address, "\" (an IP address)"));
  }
  return absl::OkStatus();
}

std::string AddressText(const sockaddr* addr) {
  char text[INET6_ADDRSTRLEN] = "";
  if (addr == nullptr) return "";
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return absl::StrCat(text, ":", ntohs(in->sin_port));
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    return absl::StrCat("[", text, "]:", ntohs(in6->sin6_port));
  }
  return "";
}

bool RouteMatches(absl::string_view prefix, absl::string_view path) {
  if (!absl::StartsWith(path, prefix)) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

int StatusForAdmission(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kUnauthenticated) return 401;
  if (status.code() == absl::StatusCode::kPermissionDenied) return 403;
  if (status.code() == absl::StatusCode::kResourceExhausted) return 429;
  return 500;
}

MHD_Result AddHeader(void* cls, MHD_ValueKind, const char* key, const char* value) {
  static_cast<HeaderList*>(cls)->emplace_back(key ? key : "", value ? value : "");
  return MHD_YES;
}

}  // namespace

struct HttpServer::Mhd {
  // The request's exchange, created with its raw URI (the query string as sent).
  static void* Uri(void* cls, const char* uri, MHD_Connection* conn) {
    auto* self = static_cast<HttpServer*>(cls);
    auto exchange = std::make_shared<Exchange>(self, conn, self->options_.io_timeout);
    absl::string_view raw = uri ? uri : "";
    if (const size_t q = raw.find('?'); q != absl::string_view::npos) {
      exchange->request().query = std::string(raw.substr(q + 1));
    }
    return new std::shared_ptr<Exchange>(std::move(exchange));
  }

  static MHD_Result Access(void* cls, MHD_Connection* conn, const char* url, const char* method,
                           const char* version, const char* upload_data, size_t* upload_data_size,
                           void** con_cls) {
    auto* self = static_cast<HttpServer*>(cls);
    auto* holder = static_cast<std::shared_ptr<Exchange>*>(*con_cls);
    if (holder == nullptr) return MHD_NO;
    Exchange& exchange = **holder;
    Request& request = exchange.request();
    if (!exchange.parsed) {
      exchange.parsed = true;
      if (!self->ParseRequest(conn, url, method, version, &exchange)) return MHD_NO;
      int64_t declared = 0;
      if (std::optional<absl::string_view> length = request.Header("Content-Length");
          length.has_value() && absl::SimpleAtoi(*length, &declared) &&
          declared > self->options_.max_body_bytes) {
        exchange.too_large = true;
      }
      if (!exchange.too_large) return MHD_YES;  // the body follows
    }
    if (*upload_data_size > 0) {
      if (!exchange.too_large) {
        if (static_cast<int64_t>(request.body.size() + *upload_data_size) >
            self->options_.max_body_bytes) {
          exchange.too_large = true;
          std::string().swap(request.body);
        } else {
          request.body.append(upload_data, *upload_data_size);
        }
      }
      *upload_data_size = 0;
      if (!exchange.dispatched) return MHD_YES;
    }
    if (!exchange.dispatched) {
      exchange.dispatched = true;
      MHD_suspend_connection(conn);
      exchange.AwaitResponse();
      self->Dispatch(*holder);
      return MHD_YES;
    }
    MHD_Response* response = exchange.TakeResponse();
    if (response == nullptr) return MHD_YES;
    const MHD_Result queued = MHD_queue_response(conn, exchange.status(), response);
    MHD_destroy_response(response);
    return queued;
  }

  static void Completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
    auto* holder = static_cast<std::shared_ptr<Exchange>*>(*con_cls);
    if (holder == nullptr) return;
    (*holder)->Ended();
    delete holder;
    *con_cls = nullptr;
  }

  static void Connection(void* cls, MHD_Connection*, void** socket_context,
                         MHD_ConnectionNotificationCode toe) {
    auto* self = static_cast<HttpServer*>(cls);
    absl::MutexLock l(&self->mu_);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
      // The TLS certificate callback finds its context here (internal/tls.h).
      *socket_context = self->tls_.get();
      ++self->connections_;
    } else {
      --self->connections_;
    }
  }
};

HttpServer::HttpServer(Options options) : options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(std::string prefix, Handler* handler) {
  routes_.push_back(RouteEntry{std::move(prefix), handler});
  // Longest prefix first, so the first match is the most specific.
  std::stable_sort(routes_.begin(), routes_.end(), [](const RouteEntry& a, const RouteEntry& b) {
    return a.prefix.size() > b.prefix.size();
  });
}

Handler* HttpServer::Find(absl::string_view path) const {
  for (const RouteEntry& route : routes_) {
    if (RouteMatches(route.prefix, path)) return route.handler;
  }
  return nullptr;
}

absl::StatusOr<int> HttpServer::Start() {
  if (daemon_ != nullptr) return absl::FailedPreconditionError("HttpServer already started");
  sockaddr_in v4;
  sockaddr_in6 v6;
  bool is_v6 = false;
  if (absl::Status s = ParseListenAddress(options_.listen_address, &v4, &v6, &is_v6); !s.ok()) {
    return s;
  }
  if (options_.num_threads < 3 || options_.max_streams < 0 ||
      options_.max_streams > options_.num_threads - 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "http: need num_threads >= 3 and 0 <= max_streams <= num_threads - 2, got num_threads=",
        options_.num_threads, " max_streams=", options_.max_streams));
  }
  if (options_.tls.enabled()) {
    absl::StatusOr<std::unique_ptr<internal::TlsContext>> tls =
        internal::TlsContext::Create(options_.tls);
    if (!tls.ok()) return tls.status();
    tls_ = *std::move(tls);
  }
  {
    absl::MutexLock l(&mu_);
    stopping_ = false;
  }
  unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
  if (is_v6) flags |= MHD_USE_IPv6;
  if (tls_ != nullptr) flags |= MHD_USE_TLS;
  const auto timeout =
      static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(options_.io_timeout)));
  std::vector<MHD_OptionItem> items = {
      {MHD_OPTION_SOCK_ADDR, 0, is_v6 ? static_cast<void*>(&v6) : static_cast<void*>(&v4)},
      {MHD_OPTION_CONNECTION_LIMIT, std::max(options_.max_connections, 2 * options_.num_threads),
       nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, timeout, nullptr},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 << 10, nullptr},
      {MHD_OPTION_URI_LOG_CALLBACK, reinterpret_cast<intptr_t>(&Mhd::Uri), this},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&Mhd::Completed), this},
      {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&Mhd::Connection), this},
  };
  if (options_.io_threads > 1) {
    items.push_back({MHD_OPTION_THREAD_POOL_SIZE, options_.io_threads, nullptr});
  }
  if (tls_ != nullptr) {
    items.push_back({MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
                     reinterpret_cast<void*>(&internal::TlsContext::Retrieve)});
    items.push_back({MHD_OPTION_HTTPS_PRIORITIES, 0, const_cast<char*>(internal::kTlsPriorities)});
  }
  items.push_back({MHD_OPTION_END, 0, nullptr});
  errno = 0;
  daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &Mhd::Access, this, MHD_OPTION_ARRAY,
                             items.data(), MHD_OPTION_END);
  if (daemon_ == nullptr) {
    const int err = errno;
    tls_.reset();
    return absl::UnavailableError(absl::StrCat("http server on ", options_.listen_address,
                                               ": cannot start",
                                               err != 0 ? absl::StrCat(": ", strerror(err)) : ""));
  }
  const MHD_DaemonInfo* bound = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  if (bound == nullptr || bound->port == 0) {
    Stop();
    return absl::UnavailableError("http server: cannot read the bound port");
  }
  for (int i = 0; i < options_.num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  if (tls_ != nullptr) reloader_ = std::thread([this] { ReloadLoop(); });
  port_.store(bound->port, std::memory_order_release);
  return static_cast<int>(bound->port);
}

void HttpServer::Stop() {
  if (daemon_ == nullptr) return;
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    for (internal::Exchange* stream : streams_) stream->Close();
  }
  // No new connections; the workers finish what was queued, then exit.
  const MHD_socket listener = MHD_quiesce_daemon(daemon_);
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
  if (reloader_.joinable()) reloader_.join();
  {
    // The responses just produced are still being sent: give them a moment.
    absl::MutexLock l(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](int* n) { return *n == 0; }, &connections_),
                         kStopDrain);
  }
  MHD_stop_daemon(daemon_);
  if (listener != MHD_INVALID_SOCKET) close(listener);
  daemon_ = nullptr;
  tls_.reset();
  port_.store(0, std::memory_order_release);
}

int HttpServer::active_streams() const {
  absl::MutexLock l(&mu_);
  return static_cast<int>(streams_.size());
}

bool HttpServer::AcquireStream(internal::Exchange* exchange) {
  absl::MutexLock l(&mu_);
  if (stopping_ || static_cast<int>(streams_.size()) >= options_.max_streams) return false;
  streams_.insert(exchange);
  return true;
}

void HttpServer::ReleaseStream(internal::Exchange* exchange) {
  absl::MutexLock l(&mu_);
  streams_.erase(exchange);
}

void HttpServer::Dispatch(std::shared_ptr<internal::Exchange> exchange) {
  absl::MutexLock l(&mu_);
  queue_.push_back(std::move(exchange));
}

void HttpServer::WorkerLoop() {
  while (true) {
    std::shared_ptr<internal::Exchange> exchange;
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(
          +[](HttpServer* s)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return !s->queue_.empty() || s->stopping_; },
          this));
      if (queue_.empty()) return;
      exchange = std::move(queue_.front());
      queue_.pop_front();
    }
    Serve(*exchange);
  }
}

void HttpServer::ReloadLoop() {
  const absl::Duration interval = std::max(absl::Seconds(1), options_.tls.reload_interval);
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval)) return;
    }
    tls_->Reload();
  }
}

bool HttpServer::ParseRequest(MHD_Connection* conn, const char* url, const char* method,
                              const char* version, internal::Exchange* exchange) {
  Request& r = exchange->request();
  r.method = method ? method : "";
  r.path = url ? url : "";
  absl::string_view v = version ? version : "";
  r.http_version = absl::StartsWith(v, "HTTP/") ? std::string(v.substr(5)) : "1.0";
  if (const MHD_ConnectionInfo* info =
          MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS)) {
    r.remote = AddressText(info->client_addr);
  }
  MHD_get_connection_values(conn, MHD_HEADER_KIND, &AddHeader, &r.headers);
  if (tls_ == nullptr) return true;
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
  if (info == nullptr || info->tls_session == nullptr) return false;
  absl::StatusOr<internal::PeerCertificate> peer =
      tls_->PeerOf(static_cast<gnutls_session_t>(info->tls_session));
  if (!peer.ok()) {
    spdlog::debug("http: refusing {}: {}", r.remote, peer.status().ToString());
    return false;
  }
  r.client_spiffe_id = std::move(peer->spiffe_id);
  r.client_common_name = std::move(peer->common_name);
  return true;
}

void HttpServer::Serve(internal::Exchange& exchange) {
  Request& request = exchange.request();
  Handler* handler = Find(request.path);
  if (handler == nullptr) {
    exchange.Send(404, "text/plain; charset=utf-8", "not found\n", {});
    exchange.Finish();
    return;
  }
  if (exchange.too_large) {
    handler->Refuse(request, exchange, 413,
                    absl::StrCat("request body larger than ", options_.max_body_bytes, " bytes"));
    exchange.Finish();
    return;
  }
  // Authentication and authorization: the one place every handler's requests pass.
  request.access = handler->Access(request);
  if (options_.admit && request.access.has_value()) {
    absl::Status admitted = options_.admit(&request);
    if (!admitted.ok()) {
      handler->Refuse(request, exchange, StatusForAdmission(admitted), admitted.message());
      exchange.Finish();
      return;
    }
  }
  handler->Serve(request, exchange);
  exchange.Finish();
}

}  // namespace slicekeeper::http
