// OpsHandler: the operator endpoints of the HTTP side port (server/http/http_server.h):
//
//   GET /metrics  200, content type "text/plain; version=0.0.4; charset=utf-8", the registry's
//                 Exposition()
//   GET /healthz  200 "ok" while the server runs
//   GET /readyz   200 "ok" when the readiness callback returns true (or none is set), else
//                 503 "not ready"
//   HEAD          as GET, without the body; other methods 405
// Authorization (Access): /metrics needs a reader of at least one namespace once a policy is
// set (it names namespaces and services); the probes are public.
//
// Thread-safety: Serve runs concurrently on the HTTP server's threads and only calls
// Registry::Exposition() and the readiness callback, which must therefore be thread-safe.
//
// Example:
//   metrics::OpsHandler ops(metrics::OpsHandler::Options{.registry = &registry,
//                                                         .ready = [&] { return loaded.load(); }});
//   ops.Install(&http_server);   // before http_server.Start()
#ifndef SLICEKEEPER_SERVER_METRICS_OPS_HANDLER_H_
#define SLICEKEEPER_SERVER_METRICS_OPS_HANDLER_H_

#include <functional>
#include <optional>

#include "server/http/handler.h"
#include "server/http/http_server.h"
#include "server/metrics/metrics.h"

namespace slicekeeper::metrics {

class OpsHandler : public http::Handler {
 public:
  struct Options {
    // Not owned; must outlive the handler. Null: Registry::Default().
    Registry* registry = nullptr;
    // Called per /readyz request on a server thread. Null: always ready.
    std::function<bool()> ready;
  };

  explicit OpsHandler(Options options) : options_(std::move(options)) {}

  // Routes /metrics, /healthz and /readyz of `server` to this handler, which must outlive it.
  // REQUIRES: before server->Start().
  void Install(http::HttpServer* server);

  // /metrics (it names namespaces and services) needs a reader of some namespace; the probes
  // are public.
  std::optional<auth::Request> Access(const http::Request& request) const override;
  void Serve(const http::Request& request, http::Response& response) override;

 private:
  const Options options_;
};

}  // namespace slicekeeper::metrics

#endif  // SLICEKEEPER_SERVER_METRICS_OPS_HANDLER_H_
