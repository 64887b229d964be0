// watch_load's memory phases: RSS per idle watch, and a 1 M-endpoint snapshot to one new watcher.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/time/clock.h"
#include "bench/proc_stats.h"
#include "bench/watch_load_cluster.h"
#include "tests/integration/http_get.h"
#include "tests/integration/prometheus_text.h"

ABSL_FLAG(int, idle_watchers, 10000, "Watch streams in the idle-memory phase");
ABSL_FLAG(int, snapshot_services, 10000, "Services x 100 endpoints for the snapshot phase");

namespace slicekeeper::bench {

void IdlePhase(const std::string& binary) {
  const int n = absl::GetFlag(FLAGS_idle_watchers);
  Cluster c = StartCluster(binary);
  Fill(c, 1000);
  const int64_t before = RssKiB(c.server->pid());
  Recorder rec;
  std::vector<std::unique_ptr<Watcher>> watchers = OpenWatchers(c, n, 1000, &rec);
  const int64_t after = RssKiB(c.server->pid());
  std::printf("idle: %d watch streams, server RSS %.1f -> %.1f MiB, %.1f KiB per idle watch\n", n,
              before / 1024.0, after / 1024.0, static_cast<double>(after - before) / n);
  for (auto& w : watchers) w->Stop();
}

void SnapshotPhase(const std::string& binary) {
  const int services = absl::GetFlag(FLAGS_snapshot_services);
  Cluster c = StartCluster(binary);
  Fill(c, services);
  Recorder rec;
  v1::WatchRequest req;
  req.set_namespace_("bench");
  const absl::Time start = absl::Now();
  Watcher w(c.generic[0].get(), req, &rec);
  while (rec.synced.load() < 1) absl::SleepFor(absl::Milliseconds(1));
  std::printf(
      "snapshot: %d endpoints in %lld slices to one new watcher in %.0f ms (server RSS %.1f MiB, "
      "%.0f B/endpoint)\n",
      services * kEndpoints, static_cast<long long>(rec.events.load()),
      absl::ToDoubleMilliseconds(absl::Now() - start), RssKiB(c.server->pid()) / 1024.0,
      RssKiB(c.server->pid()) * 1024.0 / (services * kEndpoints));
  // The split the store accounts for (slicekeeper_store_memory_bytes, by part).
  absl::StatusOr<integration::HttpResponse> r =
      integration::HttpGet(c.server->http_port(), "/metrics");
  absl::StatusOr<integration::Exposition> e =
      r.ok() ? integration::ParsePrometheusText(r->body)
             : absl::StatusOr<integration::Exposition>(r.status());
  if (e.ok()) {
    std::printf("snapshot: store's account, B/endpoint:");
    for (const char* part :
         {"endpoints", "slices", "serialized", "services", "reconciler", "history"}) {
      std::printf(" %s %.0f", part,
                  e->Value("slicekeeper_store_memory_bytes", {{"part", part}}).value_or(-1) /
                      (services * kEndpoints));
    }
    std::printf("\n");
  } else {
    std::printf("snapshot: /metrics: %s\n", e.status().ToString().c_str());
  }
  w.Stop();
}

}  // namespace slicekeeper::bench
