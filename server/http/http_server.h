// HttpServer: the HTTP side port (civetweb) and its routing. Front-ends register a `Handler` for a
// path prefix (server/http/handler.h); the server knows none of their paths.
//
// Routing: a request goes to the handler of the longest registered prefix that matches its path:
// prefix "/metrics" matches "/metrics" and "/metrics/...", never "/metricsx"; a prefix ending in
// "/" matches everything below it; "/" matches every path. Nothing matching: 404 text/plain.
//
// Per request, in this order: the body is read (over `max_body_bytes`: 413), the handler says
// what the request needs (Handler::Access: role and namespaces, from method and path), the
// request is admitted by `Options::admit` — the one place where authentication and authorization
// run for every handler (UNAUTHENTICATED: 401, PERMISSION_DENIED: 403, RESOURCE_EXHAUSTED: 429,
// rendered by the handler's Refuse) — and the handler's Serve runs on the connection's thread.
// Responses carry "Connection: close": there is no keep-alive, so an idle client never holds a
// thread.
//
// Threads and streams: civetweb serves each connection on one of `num_threads` worker threads
// (all started by Start). A streamed response (a watch) holds its thread until it ends, so at
// most `max_streams` streams run at once — StartStream refuses more (RESOURCE_EXHAUSTED, the
// handler answers 429) — and the other `num_threads - max_streams` threads always remain for
// short requests such as /healthz and /metrics. A stream notices at once when its peer hangs up
// (it polls the connection's socket while it waits), so a client that goes away frees its slot
// immediately, even on a stream that never writes. A write that makes no progress for
// `io_timeout` fails and ends the stream. docs/kubernetes-api.md has the measured cost.
//
// Stop(): running streams are woken with kClosed (handlers return), in-flight requests finish,
// then the port closes and the threads are joined.
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
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/http/handler.h"

struct mg_context;
struct mg_connection;

namespace slicekeeper::http {

namespace internal {
class Exchange;
}  // namespace internal

class HttpServer {
 public:
  struct Options {
    // "host:port" (IPv4), or "port" alone for every interface. Port 0 picks a free port.
    std::string listen_address = "127.0.0.1:9090";
    // civetweb worker threads, all started by Start: the most connections served at once.
    int num_threads = 64;
    // Streamed responses at once; at most num_threads - 2 (the rest serve short requests).
    int max_streams = 48;
    // Largest request body read; larger requests get 413.
    int64_t max_body_bytes = int64_t{3} << 20;
    // Reading a request, and a write that makes no progress, give up after this.
    absl::Duration io_timeout = absl::Seconds(30);
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
  // Errors: INVALID_ARGUMENT (malformed listen_address, or max_streams not in
  // [0, num_threads - 2]), UNAVAILABLE (bind or start failed, with civetweb's message),
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

  static int HandleRequest(mg_connection* conn, void* self);
  int Handle(mg_connection* conn);
  Handler* Find(absl::string_view path) const;
  // Stream slots: taken by Exchange::StartStream, released when its request ends.
  bool AcquireStream(internal::Exchange* exchange) ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseStream(internal::Exchange* exchange) ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  // Written by Route before Start only; read-only afterwards.
  std::vector<RouteEntry> routes_;
  mg_context* ctx_ = nullptr;
  std::atomic<int> port_{0};

  mutable absl::Mutex mu_;
  absl::flat_hash_set<internal::Exchange*> streams_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slicekeeper::http

#endif  // SLICEKEEPER_SERVER_HTTP_HTTP_SERVER_H_
