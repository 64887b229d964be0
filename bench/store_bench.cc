// Store apply throughput: Store::ApplyChanges of 100-change batches (validation, normalization,
// reconcile, revision, publish) over 1 000 services of ~100 endpoints in 64 shards, from 1 and 2
// writer threads. items/s = endpoint changes per second, summed over threads.
//
// Baseline in the same run: the 1-thread figure; the 2-thread figure over it is the scaling
// across shards. Also: one batch of 100 changes spread over 100 services (a cross-shard commit).
//
//   build-x/bench/store_bench --benchmark_min_time=0.5
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/churn.h"
#include "benchmark/benchmark.h"
#include "server/store/store.h"

namespace slicekeeper::store {
namespace {

constexpr int kServices = 1000;
constexpr int kEndpointsPerService = 100;

using bench::Churn;

Store& SharedStore() {
  static Store* const store = [] {
    Store::Options o;
    o.shards = 64;
    o.history_size = 10'000;
    auto* s = new Store(o);
    for (int svc = 0; svc < kServices; ++svc) {
      (void)s->ApplyChanges(Churn(kServices, kEndpointsPerService, 0).Fill(svc));
    }
    return s;
  }();
  return *store;
}

// Each thread writes its own half of the services, one service per batch.
void BM_StoreApply(benchmark::State& state) {
  Store& store = SharedStore();
  Churn churn(kServices, kEndpointsPerService, static_cast<uint32_t>(7 + state.thread_index()));
  const int per_thread = kServices / state.threads();
  int i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<v1::EndpointChange> batch =
        churn.Batch(state.thread_index() * per_thread + (i++ % per_thread), 100, /*spread=*/false);
    state.ResumeTiming();
    auto r = store.ApplyChanges(batch);
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_StoreApply)->Threads(1)->Threads(2)->UseRealTime();

// One batch touching 100 services (100 shards locked, one commit).
void BM_StoreApplySpread(benchmark::State& state) {
  Store& store = SharedStore();
  Churn churn(kServices, kEndpointsPerService, 99);
  int i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<v1::EndpointChange> batch =
        churn.Batch((i++ * 100) % kServices, 100, /*spread=*/true);
    state.ResumeTiming();
    auto r = store.ApplyChanges(batch);
    if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_StoreApplySpread)->UseRealTime();

}  // namespace
}  // namespace slicekeeper::store

BENCHMARK_MAIN();
