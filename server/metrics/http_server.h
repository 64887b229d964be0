// The HTTP side port (civetweb): `/metrics` (Prometheus text format), `/healthz` and `/readyz`.
//
//   GET /metrics  200, content type "text/plain; version=0.0.4; charset=utf-8", the registry's
//                 Exposition(); 401 / 403 when Options::authorize_metrics refuses
//   GET /healthz  200 "ok" while the server runs
//   GET /readyz   200 "ok" when the readiness callback returns true (or none is set), else
//                 503 "not ready"
//   anything else 404
//
// The constructor does no work; Start() binds and starts civetweb's worker threads; Stop() (or the
// destructor) closes the port and joins them.
//
// Thread-safety: Start and Stop must not race with each other (call them from the owning thread);
// port() may be called from any thread. The request handlers run on civetweb's threads and only
// call Registry::Exposition() and the readiness callback, which must therefore be thread-safe.
//
// Example:
//   HttpServer http(HttpServer::Options{.listen_address = "127.0.0.1:0", .registry = &registry,
//                                       .ready = [&] { return store_loaded.load(); }});
//   absl::StatusOr<int> port = http.Start();   // the bound port (the free one chosen for :0)
//   ...
//   http.Stop();
#ifndef SLICEKEEPER_SERVER_METRICS_HTTP_SERVER_H_
#define SLICEKEEPER_SERVER_METRICS_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/metrics/metrics.h"

struct mg_context;
struct mg_connection;

namespace slicekeeper::metrics {

class HttpServer {
 public:
  struct Options {
    // "host:port" (IPv4), or "port" alone for every interface. Port 0 picks a free port.
    std::string listen_address = "127.0.0.1:9090";
    // Not owned; must outlive the server. Null: Registry::Default().
    Registry* registry = nullptr;
    // Called per /readyz request on a civetweb thread. Null: always ready.
    std::function<bool()> ready;
    // civetweb worker threads.
    int num_threads = 2;
    // Called per /metrics request on a civetweb thread with the Authorization header ("" when
    // absent) and the peer address; returns the HTTP status to answer: 200 serves the metrics,
    // 401 or 403 refuse. Null: served to everyone. (/healthz and /readyz stay open for probes.)
    std::function<int(std::string_view authorization, std::string_view peer)> authorize_metrics;
  };

  explicit HttpServer(Options options);
  // Stops the server if running.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listen address and starts serving. Returns the bound port.
  // Errors: INVALID_ARGUMENT (malformed listen_address), UNAVAILABLE (bind or start failed, with
  // civetweb's message), FAILED_PRECONDITION (already started).
  absl::StatusOr<int> Start();

  // Stops serving and joins civetweb's threads; in-flight requests finish first. Idempotent.
  void Stop();

  // The bound port, or 0 when not running.
  int port() const { return port_.load(std::memory_order_acquire); }

 private:
  static int HandleRequest(mg_connection* conn, void* self);
  int Handle(mg_connection* conn);

  const Options options_;
  mg_context* ctx_ = nullptr;
  std::atomic<int> port_{0};
};

}  // namespace slicekeeper::metrics

#endif  // SLICEKEEPER_SERVER_METRICS_HTTP_SERVER_H_
