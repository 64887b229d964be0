// OperatorView: the operator web page front-end — a live page of services, zones, churn and
// subscribers, and the small JSON API it is built on (docs/ui.md). A sibling of the gRPC, xDS and
// Kubernetes front-ends over the same store and watch hub; it never calls another front-end.
//
// Served on the HTTP side port (server/http/http_server.h; Install routes "/", "/ui" and
// "/api/ui/" here). Its admission hook (bearer tokens and the policy, server/http/admission.h)
// admits every API path through Access below; the page's own files carry no data and are public
// (the page asks for a token when the API answers 401):
//   - overview, services and events: a reader of at least one namespace; one whose role is
//     limited to some namespaces sees only their services, totals summed over them, and no
//     cluster-wide figures (rates, subscribers, history: null);
//   - services/{ns}/{name}: a reader of {ns};
//   - series and subscribers (cluster-wide figures): a cluster-wide reader.
//   GET /                               302 to /ui/ (any other path not routed elsewhere: 404)
//   GET /ui/, /ui/app.js, /ui/app.css   the page, embedded in the binary at build time
//                                       (server/ui/assets.h; "not built" page without Node)
//   GET /api/ui/v1/overview             totals, rates, subscribers, history, storage
//   GET /api/ui/v1/services             the table; ?namespace=, ?selector= (service labels)
//   GET /api/ui/v1/services/{ns}/{name} one service: zones, slices with fill, recent events
//   GET /api/ui/v1/series               per-second churn and propagation lag, last 15 minutes
//   GET /api/ui/v1/subscribers          open hub subscribers, most lagging first
//   GET /api/ui/v1/events               Server-Sent Events: `services` (changed rows),
//                                       `events` (the event tail), `sample` (each second),
//                                       `resync` (refetch the table); ?service=ns/name
// Errors are JSON {"error": "..."} with 400 / 404 / 405 / 429.
//
// Contract with the rest of slicekeeper:
//   - everything shown comes from the watch hub (internal/recorder.h: one marks-only subscriber
//     for the whole view); live pages are fed by the recorder's notifications, never by polling
//     the store;
//   - an open page costs one HTTP stream slot (a thread) and a bounded queue: changed rows
//     coalesce per service, at most Options::max_queue_keys of them (then one `resync`), at most
//     Options::max_queue_events events (the oldest dropped). A page that stops reading holds no
//     more than that, and the write timeout of the HTTP port ends it.
//
// Thread-safety: Serve runs concurrently on the HTTP server's threads; Start and Stop are for
// the owner's thread.
//
// Example:
//   ui::OperatorView view(&store, &hub, ui::OperatorView::Options{.storage_backend = "rocksdb"});
//   view.Install(&http_server);   // before http_server.Start()
//   view.Start();                  // after hub.Start()
//   ...
//   view.Stop();                   // before hub.Stop()
#ifndef SLICEKEEPER_SERVER_UI_OPERATOR_VIEW_H_
#define SLICEKEEPER_SERVER_UI_OPERATOR_VIEW_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "server/auth/policy.h"
#include "server/auth/request.h"
#include "server/http/handler.h"
#include "server/http/http_server.h"
#include "server/metrics/metrics.h"
#include "server/store/store.h"
#include "server/ui/internal/recorder.h"
#include "server/watch/hub.h"

namespace slicekeeper::ui {

class OperatorView : public http::Handler {
 public:
  struct Options {
    // Shown in the overview: "rocksdb", "etcd" or "memory".
    std::string storage_backend = "memory";
    // For the slices' fill: endpoints per managed slice at most.
    int max_endpoints_per_slice = 100;
    // The watch send-lag histogram (seconds) for the propagation-lag plot. Null: no lag plot.
    const metrics::Histogram* propagation_lag = nullptr;
    // Per open page: changed services held at most before a resync, and events held.
    size_t max_queue_keys = 1024;
    size_t max_queue_events = 64;
    // Idle pages get an SSE comment this often (proxies keep the connection).
    absl::Duration keepalive = absl::Seconds(15);
    // Not owned. Null: RealClock().
    Clock* clock = nullptr;
  };

  // `store` and `hub` must outlive the view. Does no work.
  OperatorView(store::Store* store, watch::Hub* hub, Options options);
  ~OperatorView() override;

  // Routes "/", "/ui" and "/api/ui/" of `server` here. REQUIRES: before server->Start().
  void Install(http::HttpServer* server);
  // Starts following the hub. REQUIRES: the hub is started.
  void Start();
  // Stops following the hub. Idempotent.
  void Stop();

  void Serve(const http::Request& request, http::Response& response) override;
  std::optional<auth::Request> Access(const http::Request& request) const override;
  void Refuse(const http::Request& request, http::Response& response, int status,
              absl::string_view message) override;

  // The model behind the page (tests).
  internal::Recorder& recorder() { return recorder_; }

 private:
  // `readable`: what the caller may see (server/auth/request.h).
  std::string OverviewJson(const auth::NamespaceFilter& readable) const;
  std::string SampleJson(const internal::Sample& s) const;
  void ServeServices(const http::Request& request, http::Response& response) const;
  void ServeService(absl::string_view ns, absl::string_view name, http::Response& response) const;
  void ServeSeries(http::Response& response) const;
  void ServeSubscribers(http::Response& response) const;
  void ServeEvents(const http::Request& request, http::Response& response);
  // The services event of `keys`, only those `readable` allows; "" when none is left.
  std::string ServicesEvent(const std::vector<std::string>& keys,
                            const auth::NamespaceFilter& readable) const;

  store::Store* const store_;
  watch::Hub* const hub_;
  const Options options_;
  internal::Recorder recorder_;
};

}  // namespace slicekeeper::ui

#endif  // SLICEKEEPER_SERVER_UI_OPERATOR_VIEW_H_
