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

namespace {

// The split the store accounts for (slicekeeper_store_memory_bytes, by part), per endpoint.
void PrintAccount(const Cluster& c, const char* when, int endpoints) {
  absl::StatusOr<integration::HttpResponse> r =
      integration::HttpGet(c.server->http_port(), "/metrics");
  absl::StatusOr<integration::Exposition> e =
      r.ok() ? integration::ParsePrometheusText(r->body)
             : absl::StatusOr<integration::Exposition>(r.status());
  if (!e.ok()) {
    std::printf("snapshot: /metrics: %s\n", e.status().ToString().c_str());
    return;
  }
  std::printf("snapshot: %s, store's account, B/endpoint:", when);
  for (const char* part :
       {"endpoints", "slices", "serialized", "services", "reconciler", "history"}) {
    std::printf(
        " %s %.0f", part,
        e->Value("slicekeeper_store_memory_bytes", {{"part", part}}).value_or(-1) / endpoints);
  }
  std::printf("\n");
}

}  // namespace

void SnapshotPhase(const std::string& binary) {
  const int services = absl::GetFlag(FLAGS_snapshot_services);
  const int endpoints = services * kEndpoints;
  Cluster c = StartCluster(binary);
  const int64_t empty_kib = RssKiB(c.server->pid());
  Fill(c, services);
  const int64_t loaded_kib = RssKiB(c.server->pid());
  // Issue 20's measure: what the loaded state adds to the empty server.
  std::printf(
      "snapshot: server RSS empty %.1f MiB, loaded %.1f MiB: %.1f MiB above empty (%.0f "
      "B/endpoint)\n",
      empty_kib / 1024.0, loaded_kib / 1024.0, (loaded_kib - empty_kib) / 1024.0,
      (loaded_kib - empty_kib) * 1024.0 / endpoints);
  PrintAccount(c, "loaded", endpoints);
  Recorder rec;
  v1::WatchRequest req;
  req.set_namespace_("bench");
  const absl::Time start = absl::Now();
  Watcher w(c.generic[0].get(), req, &rec);
  while (rec.synced.load() < 1) absl::SleepFor(absl::Milliseconds(1));
  const absl::Duration took = absl::Now() - start;
  const int64_t after_kib = RssKiB(c.server->pid());
  std::printf(
      "snapshot: %d endpoints in %lld slices to one new watcher in %.0f ms (server RSS %.1f MiB, "
      "%.0f B/endpoint above empty)\n",
      endpoints, static_cast<long long>(rec.events.load()), absl::ToDoubleMilliseconds(took),
      after_kib / 1024.0, (after_kib - empty_kib) * 1024.0 / endpoints);
  // /metrics reuses a measurement under a second old while the revision stands still
  // (ApiMetrics::MemoryUsage): let it age so this scrape measures the serialized bytes the
  // snapshot left.
  absl::SleepFor(absl::Seconds(1.1));
  PrintAccount(c, "after the snapshot", endpoints);
  w.Stop();
}

}  // namespace slicekeeper::bench
