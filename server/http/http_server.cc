#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <civetweb.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "server/http/internal/exchange.h"

namespace slicekeeper::http {
namespace {

// civetweb wants one mg_init_library per process before the first mg_start.
void InitCivetwebOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}

// Checks "host:port" or "port" (port a number) and returns it as civetweb's listening_ports.
absl::StatusOr<std::string> ListeningPorts(absl::string_view address) {
  absl::string_view port = address;
  size_t colon = address.rfind(':');
  if (colon != absl::string_view::npos) {
    port = address.substr(colon + 1);
    if (colon == 0) return absl::InvalidArgumentError("listen_address: empty host");
  }
  int n = 0;
  if (!absl::SimpleAtoi(port, &n) || n < 0 || n > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen_address: bad port in \"", address, "\""));
  }
  return std::string(address);
}

// The host to connect to for reaching our own listener: the bound IPv4 host, or loopback for a
// wildcard bind.
std::string SelfHost(absl::string_view address) {
  size_t colon = address.rfind(':');
  absl::string_view host = colon == absl::string_view::npos ? "" : address.substr(0, colon);
  if (host.empty() || host == "0.0.0.0" || host == "localhost") return "127.0.0.1";
  return std::string(host);
}

// Opens and closes one connection to the listener, which wakes civetweb's accept loop.
void Knock(const std::string& host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return;
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1) {
    connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  }
  close(fd);
}

bool RouteMatches(absl::string_view prefix, absl::string_view path) {
  if (!absl::StartsWith(path, prefix)) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

Request ParseRequest(const mg_request_info& info) {
  Request r;
  r.method = info.request_method ? info.request_method : "";
  r.path = info.local_uri ? info.local_uri : "";
  r.query = info.query_string ? info.query_string : "";
  r.http_version = info.http_version ? info.http_version : "1.0";
  r.remote = absl::StrCat(info.remote_addr, ":", info.remote_port);
  r.headers.reserve(info.num_headers);
  for (int i = 0; i < info.num_headers; ++i) {
    r.headers.emplace_back(info.http_headers[i].name ? info.http_headers[i].name : "",
                           info.http_headers[i].value ? info.http_headers[i].value : "");
  }
  return r;
}

// Reads the whole body into `request`. Returns 0, or the status to refuse the request with.
int ReadBody(mg_connection* conn, int64_t max_bytes, Request* request) {
  const long long declared = mg_get_request_info(conn)->content_length;
  if (declared > max_bytes) return 413;
  char buf[16 << 10];
  while (true) {
    const int n = mg_read(conn, buf, sizeof(buf));
    if (n < 0) return 400;
    if (n == 0) return 0;
    if (static_cast<int64_t>(request->body.size()) + n > max_bytes) return 413;
    request->body.append(buf, n);
  }
}

int StatusForAdmission(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kUnauthenticated) return 401;
  if (status.code() == absl::StatusCode::kPermissionDenied) return 403;
  if (status.code() == absl::StatusCode::kResourceExhausted) return 429;
  return 500;
}

}  // namespace

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
  if (ctx_ != nullptr) return absl::FailedPreconditionError("HttpServer already started");
  absl::StatusOr<std::string> ports = ListeningPorts(options_.listen_address);
  if (!ports.ok()) return ports.status();
  if (options_.num_threads < 3 || options_.max_streams < 0 ||
      options_.max_streams > options_.num_threads - 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "http: need num_threads >= 3 and 0 <= max_streams <= num_threads - 2, got num_threads=",
        options_.num_threads, " max_streams=", options_.max_streams));
  }
  InitCivetwebOnce();
  {
    absl::MutexLock l(&mu_);
    stopping_ = false;
  }
  const std::string threads = std::to_string(options_.num_threads);
  const std::string timeout = std::to_string(absl::ToInt64Milliseconds(options_.io_timeout));
  // Accepted connections wait here for a free thread (civetweb's default is 20).
  const std::string queue = std::to_string(std::max(128, options_.num_threads));
  const char* config[] = {"listening_ports",  ports->c_str(),       "num_threads",
                          threads.c_str(),    "request_timeout_ms", timeout.c_str(),
                          "connection_queue", queue.c_str(),        nullptr};
  mg_callbacks callbacks = {};
  // civetweb logs to stderr unless told otherwise; errors come back through mg_error_data.
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
  // Set before the port opens, so no request can reach civetweb's default (file) handler.
  callbacks.begin_request = [](mg_connection* conn) {
    return HandleRequest(conn, mg_get_request_info(conn)->user_data);
  };
  mg_init_data init = {};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = config;
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error = {};
  error.code = &error_code;
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);

  ctx_ = mg_start2(&init, &error);
  if (ctx_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("http server on ", options_.listen_address, ": ",
                                               error_text[0] ? error_text : "start failed"));
  }
  mg_server_port bound[4] = {};
  int n = mg_get_server_ports(ctx_, 4, bound);
  if (n < 1 || bound[0].port <= 0) {
    Stop();
    return absl::UnavailableError("http server: cannot read the bound port");
  }
  port_.store(bound[0].port, std::memory_order_release);
  return bound[0].port;
}

void HttpServer::Stop() {
  if (ctx_ == nullptr) return;
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    for (internal::Exchange* stream : streams_) stream->Close();
  }
  // civetweb's accept loop polls with a 2 s timeout and only then sees the stop flag; knocking on
  // the port until mg_stop returns makes shutdown take milliseconds instead.
  mg_context* ctx = ctx_;
  absl::Notification stopped;
  std::thread stopper([ctx, &stopped] {
    mg_stop(ctx);
    stopped.Notify();
  });
  std::string host = SelfHost(options_.listen_address);
  int port = port_.load(std::memory_order_acquire);
  while (!stopped.WaitForNotificationWithTimeout(absl::Milliseconds(5))) Knock(host, port);
  stopper.join();
  ctx_ = nullptr;
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

int HttpServer::HandleRequest(mg_connection* conn, void* self) {
  return static_cast<HttpServer*>(self)->Handle(conn);
}

int HttpServer::Handle(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  Request request = ParseRequest(*info);
  internal::Exchange exchange(this, conn, request.method == "HEAD", request.http_version == "1.0",
                              options_.io_timeout);
  Handler* handler = Find(request.path);
  if (handler == nullptr) {
    exchange.Send(404, "text/plain; charset=utf-8", "not found\n", {});
    return exchange.Finish();
  }
  if (int refused = ReadBody(conn, options_.max_body_bytes, &request); refused != 0) {
    handler->Refuse(request, exchange, refused,
                    refused == 413 ? absl::StrCat("request body larger than ",
                                                  options_.max_body_bytes, " bytes")
                                   : "cannot read the request body");
    return exchange.Finish();
  }
  // Authentication and authorization: the one place every handler's requests pass.
  request.access = handler->Access(request);
  if (options_.admit && request.access.has_value()) {
    absl::Status admitted = options_.admit(&request);
    if (!admitted.ok()) {
      handler->Refuse(request, exchange, StatusForAdmission(admitted), admitted.message());
      return exchange.Finish();
    }
  }
  handler->Serve(request, exchange);
  return exchange.Finish();
}

}  // namespace slicekeeper::http
