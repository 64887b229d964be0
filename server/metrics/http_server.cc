#include "server/metrics/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace slicekeeper::metrics {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// civetweb wants one mg_init_library per process before the first mg_start.
void InitCivetwebOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}

void Respond(mg_connection* conn, int code, absl::string_view reason,
             absl::string_view content_type, absl::string_view body, bool head_only) {
  std::string header =
      absl::StrCat("HTTP/1.1 ", code, " ", reason, "\r\nContent-Type: ", content_type,
                   "\r\nContent-Length: ", body.size(),
                   "\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n");
  mg_write(conn, header.data(), header.size());
  if (!head_only) mg_write(conn, body.data(), body.size());
}

// "host:port" or "port" -> civetweb's listening_ports value; checks the port is a number.
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

}  // namespace

HttpServer::HttpServer(Options options) : options_(std::move(options)) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Start() {
  if (ctx_ != nullptr) return absl::FailedPreconditionError("HttpServer already started");
  absl::StatusOr<std::string> ports = ListeningPorts(options_.listen_address);
  if (!ports.ok()) return ports.status();
  InitCivetwebOnce();

  std::string threads = std::to_string(options_.num_threads > 0 ? options_.num_threads : 1);
  const char* config[] = {"listening_ports", ports->c_str(), "num_threads", threads.c_str(),
                          nullptr};
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

int HttpServer::HandleRequest(mg_connection* conn, void* self) {
  return static_cast<HttpServer*>(self)->Handle(conn);
}

int HttpServer::Handle(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  absl::string_view method = info->request_method ? info->request_method : "";
  absl::string_view path = info->local_uri ? info->local_uri : "";
  bool head = method == "HEAD";
  if (method != "GET" && !head) {
    Respond(conn, 405, "Method Not Allowed", "text/plain", "method not allowed\n", head);
    return 405;
  }
  if (path == "/metrics" && options_.authorize_metrics) {
    const char* authorization = mg_get_header(conn, "Authorization");
    const std::string peer = absl::StrCat(info->remote_addr, ":", info->remote_port);
    const int code = options_.authorize_metrics(authorization ? authorization : "", peer);
    if (code == 401) {
      Respond(conn, 401, "Unauthorized", "text/plain", "unauthorized\n", head);
      return 401;
    }
    if (code != 200) {
      Respond(conn, 403, "Forbidden", "text/plain", "forbidden\n", head);
      return 403;
    }
  }
  if (path == "/metrics") {
    Registry* registry = options_.registry ? options_.registry : &Registry::Default();
    Respond(conn, 200, "OK", kMetricsContentType, registry->Exposition(), head);
    return 200;
  }
  if (path == "/healthz") {
    Respond(conn, 200, "OK", "text/plain", "ok\n", head);
    return 200;
  }
  if (path == "/readyz") {
    bool ready = !options_.ready || options_.ready();
    if (ready) {
      Respond(conn, 200, "OK", "text/plain", "ok\n", head);
      return 200;
    }
    Respond(conn, 503, "Service Unavailable", "text/plain", "not ready\n", head);
    return 503;
  }
  Respond(conn, 404, "Not Found", "text/plain", "not found\n", head);
  return 404;
}

}  // namespace slicekeeper::metrics
