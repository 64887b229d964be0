#include "server/metrics/ops_handler.h"

namespace slicekeeper::metrics {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kText[] = "text/plain; charset=utf-8";

}  // namespace

void OpsHandler::Install(http::HttpServer* server) {
  for (const char* path : {"/metrics", "/healthz", "/readyz"}) server->Route(path, this);
}

std::optional<auth::Request> OpsHandler::Access(const http::Request& request) const {
  // Probes come from kubelets and load balancers without credentials, and say nothing.
  if (request.path != "/metrics") return std::nullopt;
  return Handler::Access(request);
}

void OpsHandler::Serve(const http::Request& request, http::Response& response) {
  if (request.method != "GET" && request.method != "HEAD") {
    response.Send(405, kText, "method not allowed\n", {{"Allow", "GET, HEAD"}});
    return;
  }
  if (request.path == "/metrics") {
    Registry* registry = options_.registry ? options_.registry : &Registry::Default();
    response.Send(200, kMetricsContentType, registry->Exposition());
  } else if (request.path == "/healthz") {
    response.Send(200, kText, "ok\n");
  } else if (request.path == "/readyz") {
    const bool ready = !options_.ready || options_.ready();
    response.Send(ready ? 200 : 503, kText, ready ? "ok\n" : "not ready\n");
  } else {
    response.Send(404, kText, "not found\n");
  }
}

}  // namespace slicekeeper::metrics
