// The store's memory per endpoint (issue 20): loads `services` x `endpoints` pod endpoints
// (bench/churn.h's services: 3 zones, node names, pod target refs) into an in-process store with
// the default history, in 50-service batches as ApplyChanges, and prints the process RSS above
// the empty process beside the store's own accounting (Store::memory_usage), by part; then the
// same after every slice's serialized bytes are cached (what a watcher's snapshot leaves), and
// after `churn` changes in 100-change batches (bench/churn.h's mix), which fill the history
// window to its default bounds.
// Allocator and transparent huge pages are set up as the server's (server/main.cc).
//
//   build/bench/memory_bench [services=10000] [endpoints=100] [churn=1000000]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench/churn.h"
#include "bench/proc_stats.h"
#include "server/store/store.h"

extern "C" {
__attribute__((visibility("default"), used)) const char* malloc_conf =
    "thp:always,narenas:1";  // as the server
}

namespace slicekeeper::bench {
namespace {

void Print(const char* phase, const store::MemoryUsage& u, int64_t rss_kib) {
  const double n = static_cast<double>(u.live_endpoints);
  const double rss = rss_kib * 1024.0;
  std::printf(
      "%s: %lld endpoints; RSS above empty %.1f MiB = %.0f B/endpoint; store's account %.1f MiB "
      "= %.0f B/endpoint (endpoints %.0f, slices %.0f, serialized %.0f, services %.0f, "
      "reconciler %.0f, history %.0f B/endpoint); unaccounted (allocator, free pages) %.0f "
      "B/endpoint\n",
      phase, static_cast<long long>(u.live_endpoints), rss / (1 << 20), rss / n,
      u.total() / double{1 << 20}, u.total() / n, u.endpoints / n, u.slices / n, u.serialized / n,
      u.services / n, u.reconciler / n, u.history / n, (rss - static_cast<double>(u.total())) / n);
}

int Main(int argc, char** argv) {
  const int services = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int endpoints = argc > 2 ? std::atoi(argv[2]) : 100;
  const int churn_changes = argc > 3 ? std::atoi(argv[3]) : 1'000'000;
  Churn churn(services, endpoints, 1);
  const int pid = static_cast<int>(getpid());
  const int64_t empty = RssKiB(pid);
  store::Store store(store::Store::Options{});
  std::vector<v1::EndpointChange> batch;
  for (int s = 0; s < services; ++s) {
    for (v1::EndpointChange& c : churn.Fill(s)) batch.push_back(std::move(c));
    if ((s + 1) % 50 == 0 || s + 1 == services) {
      if (!store.ApplyChanges(batch).ok()) {
        std::fprintf(stderr, "load failed\n");
        return 1;
      }
      batch.clear();
    }
  }
  Print("loaded", store.memory_usage(), RssKiB(pid) - empty);
  const store::CatalogPtr catalog = store.Snapshot();
  for (const store::ServiceSnapshotPtr& svc : catalog->services) {
    for (const SlicePtr& slice : svc->slices) slice->SerializedProto();
  }
  Print("serialized", store.memory_usage(), RssKiB(pid) - empty);
  for (int i = 0; i < churn_changes / 100; ++i) {
    if (!store.ApplyChanges(churn.Batch(i % services, 100, /*spread=*/false)).ok()) {
      std::fprintf(stderr, "churn failed\n");
      return 1;
    }
  }
  Print("churned", store.memory_usage(), RssKiB(pid) - empty);
  return 0;
}

}  // namespace
}  // namespace slicekeeper::bench

int main(int argc, char** argv) { return slicekeeper::bench::Main(argc, argv); }
