// HttpServer: the HTTP side port and its routing, over libmicrohttpd (HTTP/1.1, and TLS/mTLS
// through GnuTLS). Front-ends register a `Handler` for a path prefix (server/http/handler.h); the
// server knows none of their paths.
//
// Routing: a request goes to the handler of the longest registered prefix that matches its path:
// prefix "/metrics" matches "/metrics" and "/metrics/...", never "/metricsx"; a prefix ending in
// "/" matches everything below it; "/" matches every path. Nothing matching: 404 text/plain.
//
// Per request, in this order: the body is read (over `max_body_bytes`: 413), the handler says
// what the request needs (Handler::Access: role and namespaces, from method and path), the
// request is admitted by `Options::admit` — the one place where authentication and authorization
// run for every handler (UNAUTHENTICATED: 401, PERMISSION_DENIED: 403, RESOURCE_EXHAUSTED: 429,
// rendered by the handler's Refuse) — and the handler's Serve runs on a worker thread.
// Responses carry "Connection: close": there is no keep-alive, so an idle client never holds a
// connection.
//
// TLS (Options::tls, the flags every listener shares: auth/tls_options.h): the port then speaks
// only TLS 1.2+; client certificates are asked for, verified and required per
// --client_auth; the certificate, key and client CA are re-read every reload_interval and new
// handshakes use them (internal/tls.h). A verified client certificate's URI SAN spiffe://... and
// subject CN reach the admission hook in Request::client_spiffe_id / client_common_name.
//
// Threads and streams: libmicrohttpd's event threads (`io_threads`) read requests and write
// responses for every connection (at most `max_connections`, idle ones close after io_timeout);
// a request, once read, is served by one of `num_threads` worker threads, and its connection
// waits, suspended, for the response. A streamed response (a watch) holds its worker until it
// ends, so at most `max_streams` streams run at once — StartStream refuses more
// (RESOURCE_EXHAUSTED, the handler answers 429) — and the other `num_threads - max_streams`
// workers always remain for short requests such as /healthz and /metrics. A stream notices at
// once when its peer hangs up (it polls the connection's socket while it waits), so a client
// that goes away frees its slot immediately, even on a stream that never writes. A write that
// cannot be sent for `io_timeout` (the peer reads nothing) ends the stream.
// docs/kubernetes-api.md has the measured cost.
//
// Stop(): the port stops accepting, running streams are woken with kClosed (handlers return),
// in-flight requests finish and their responses are sent (waiting at most io_timeout), then the
// connections close and the threads are joined.
//
// Thread-safety: Route, Start and Stop are for the owning thread (Route only before Start);
// port() and active_streams() may be called from any thread; handlers and the admission hook
// run concurrently on the worker threads and must be thread-safe.
//
// Example:
//   http::HttpServer server(http::HttpServer::Options{.listen_address = "127.0.0.1:0"});
//   server.Route("/metrics", &metrics_handler);
//   server.Route("/apis/", &kubernetes_api);
//   absl::StatusOr<int> port = server.Start();
//   ...
//   server.Stop();
#ifndef SLICEKEEPER_SERVER_HTTP_HTTP_SERVER_H_
#define SLICEKEEPER_SERVER_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/auth/tls_options.h"
#include "server/http/handler.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace slicekeeper::http {

namespace internal {
class Exchange;
class TlsContext;
}  // namespace internal

class HttpServer {
 public:
  struct Options {
    // "host:port" (IPv4, or [IPv6]:port), or "port" alone for every IPv4 interface. Port 0 picks
    // a free port.
    std::string listen_address = "127.0.0.1:9090";
    // Worker threads running handlers, all started by Start: the most requests served at once.
    int num_threads = 64;
    // libmicrohttpd's event threads (reading, writing, TLS), and open connections at most (at
    // least 2 * num_threads).
    int io_threads = 2;
    int max_connections = 1024;
    // Streamed responses at once; at most num_threads - 2 (the rest serve short requests).
    int max_streams = 48;
    // Largest request body read; larger requests get 413.
    int64_t max_body_bytes = int64_t{3} << 20;
    // An idle connection, and a stream write that makes no progress, give up after this.
    absl::Duration io_timeout = absl::Seconds(30);
    // TLS of the port (disabled: plaintext). REQUIRES: tls.Validate() is OK.
    auth::TlsOptions tls;
    // Admission, called before its handler for every request whose handler asks for access
    // (request->access set): sets request->caller. UNAUTHENTICATED -> 401, PERMISSION_DENIED ->
    // 403, RESOURCE_EXHAUSTED -> 429, any other error -> 500. Null: admit all.
    std::function<absl::Status(Request*)> admit;
  };

  explicit HttpServer(Options options);
  // Stops the server if running.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves paths under `prefix` (see the banner) with `handler`, which must outlive the server.
  // REQUIRES: before Start; `prefix` starts with "/" and was not registered before.
  void Route(std::string prefix, Handler* handler);

  // Binds the listen address and starts serving. Returns the bound port.
  // Errors: INVALID_ARGUMENT (malformed listen_address, max_streams not in
  // [0, num_threads - 2], a TLS file that does not load), UNAVAILABLE (bind or start failed),
  // FAILED_PRECONDITION (already started).
  absl::StatusOr<int> Start();

  // Ends running streams (see the banner), stops serving and joins the threads. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // The bound port, or 0 when not running.
  int port() const { return port_.load(std::memory_order_acquire); }
  // Streamed responses running now.
  int active_streams() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class internal::Exchange;
  struct RouteEntry {
    std::string prefix;
    Handler* handler;
  };

  // libmicrohttpd's callbacks (http_server.cc), with access to the members.
  struct Mhd;
  // The first call of a request: its parts, peer and client certificate. False: close the
  // connection (a TLS client that fails --client_auth).
  bool ParseRequest(MHD_Connection* conn, const char* url, const char* method, const char* version,
                    internal::Exchange* exchange);
  // Worker threads: take exchanges off the queue and serve them.
  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void Serve(internal::Exchange& exchange);
  void Dispatch(std::shared_ptr<internal::Exchange> exchange) ABSL_LOCKS_EXCLUDED(mu_);
  void ReloadLoop() ABSL_LOCKS_EXCLUDED(mu_);
  Handler* Find(absl::string_view path) const;
  // Stream slots: taken by Exchange::StartStream, released when its request ends.
  bool AcquireStream(internal::Exchange* exchange) ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseStream(internal::Exchange* exchange) ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  // Written by Route before Start only; read-only afterwards.
  std::vector<RouteEntry> routes_;
  MHD_Daemon* daemon_ = nullptr;
  std::unique_ptr<internal::TlsContext> tls_;
  std::vector<std::thread> workers_;
  std::thread reloader_;
  std::atomic<int> port_{0};

  mutable absl::Mutex mu_;
  absl::flat_hash_set<internal::Exchange*> streams_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<internal::Exchange>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Open connections (libmicrohttpd's notifications).
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace slicekeeper::http

#endif  // SLICEKEEPER_SERVER_HTTP_HTTP_SERVER_H_
