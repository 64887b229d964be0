// Store apply throughput: Store::ApplyChanges of 100-change batches (validation, normalization,
// reconcile, revision, publish) over 1 000 services of ~100 endpoints in 64 shards, from 1 and 2
// writer threads. items/s = endpoint changes per second, summed over threads.
//
// Baseline in the same run: the 1-thread figure; the 2-thread figure over it is the scaling
// across shards. Also: one batch of 100 changes spread over 100 services (a cross-shard commit).
//
// The server's own work per change, stage by stage, warm and on one core, for etcd_baseline's
// workload (the same churn): BM_BatchParse (the batch's protobuf decode on a reused arena, as
// ChangeStream does), BM_BatchValidate (validation into records, in place as the server does
// it), BM_StoreApply (validation by copy, reconcile, commit, history, publish) and
// BM_CommitSerialize (each slice a commit wrote, serialized once for its watchers). Decode,
// apply and serialization are what the server spends beyond the transport (bench/null_server
// does none of it), to hold against issue 20's budget of 0.5x the null server's CPU per change
// (BENCHMARKS.md, "What the CPU-per-change budget leaves", which splits BM_StoreApply by profile:
// its validation copies the batch, so subtracting BM_BatchValidate does not isolate the rest).
//
//   build-x/bench/store_bench --benchmark_min_time=0.5
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/churn.h"
#include "benchmark/benchmark.h"
#include "common/validation.h"
#include "google/protobuf/arena.h"
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

// The next item of `run`; when it is used up, all kRun items are made again by `fill`, untimed.
// Setup thus stays outside the timer without a pause per iteration (a pause per 100-change batch
// costs the timer ~10 %, and shows in a profile of the loop).
constexpr size_t kRun = 256;
template <typename T, typename Fill>
T& NextOfRun(benchmark::State& state, std::vector<T>& run, size_t& next, Fill fill) {
  if (next == run.size()) {
    state.PauseTiming();
    run.assign(kRun, T());
    for (T& item : run) fill(item);
    next = 0;
    state.ResumeTiming();
  }
  return run[next++];
}

// Each thread writes its own half of the services, one service per batch.
void BM_StoreApply(benchmark::State& state) {
  Store& store = SharedStore();
  Churn churn(kServices, kEndpointsPerService, static_cast<uint32_t>(7 + state.thread_index()));
  const int per_thread = kServices / state.threads();
  std::vector<std::vector<v1::EndpointChange>> batches;
  size_t next = 0;
  int i = 0;
  for (auto _ : state) {
    const std::vector<v1::EndpointChange>& batch =
        NextOfRun(state, batches, next, [&](std::vector<v1::EndpointChange>& b) {
          b = churn.Batch(state.thread_index() * per_thread + (i++ % per_thread), 100, false);
        });
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

// The decode of a 100-change batch from its wire bytes, on an arena reset per batch.
void BM_BatchParse(benchmark::State& state) {
  Churn churn(kServices, kEndpointsPerService, 11);
  std::vector<std::string> wire;
  for (int i = 0; i < 64; ++i) {
    v1::ChangeBatch batch;
    batch.set_batch_id(i);
    for (v1::EndpointChange& c : churn.Batch(i, 100, /*spread=*/false)) {
      *batch.add_changes() = std::move(c);
    }
    wire.push_back(batch.SerializeAsString());
  }
  google::protobuf::ArenaOptions ao;  // ChangeStream's
  ao.start_block_size = 8 << 10;
  ao.max_block_size = 64 << 10;
  google::protobuf::Arena arena(ao);
  size_t i = 0;
  for (auto _ : state) {
    arena.Reset();
    auto* batch = google::protobuf::Arena::CreateMessage<v1::ChangeBatch>(&arena);
    if (!batch->ParseFromString(wire[i++ % wire.size()])) state.SkipWithError("parse");
    benchmark::DoNotOptimize(batch);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_BatchParse);

// Validation and normalization of a parsed 100-change batch into the records the store keeps (the
// first step of BM_StoreApply), as the server runs it: in place on the batch (copied untimed).
void BM_BatchValidate(benchmark::State& state) {
  Churn churn(kServices, kEndpointsPerService, 17);
  std::vector<v1::ChangeBatch> batches(64);
  for (int i = 0; i < 64; ++i) {
    for (v1::EndpointChange& c : churn.Batch(i, 100, /*spread=*/false)) {
      *batches[i].add_changes() = std::move(c);
    }
  }
  std::vector<v1::ChangeBatch> run;
  size_t next = 0, i = 0;
  for (auto _ : state) {
    v1::ChangeBatch& batch =
        NextOfRun(state, run, next, [&](v1::ChangeBatch& b) { b = batches[i++ % batches.size()]; });
    auto deltas = validation::TakeNormalizedChanges(batch.mutable_changes(), "changes");
    if (!deltas.ok()) state.SkipWithError(std::string(deltas.status().message()).c_str());
    benchmark::DoNotOptimize(deltas);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_BatchValidate);

// The slices one 100-change commit wrote, each serialized once (the bytes every watcher of the
// service is sent). The commits are applied untimed, kRun at a time, and their new slices kept;
// the timed loop serializes one commit's slices an iteration.
void BM_CommitSerialize(benchmark::State& state) {
  Store& store = SharedStore();
  Churn churn(kServices, kEndpointsPerService, 13);
  std::vector<std::vector<SlicePtr>> written;
  size_t next = 0;
  int i = 0;
  int64_t slices = 0;
  for (auto _ : state) {
    const std::vector<SlicePtr>& commit =
        NextOfRun(state, written, next, [&](std::vector<SlicePtr>& out) {
          std::vector<v1::EndpointChange> batch = churn.Batch(i++ % kServices, 100, false);
          ServiceSnapshotPtr before = store.GetService(batch[0].namespace_(), batch[0].service());
          auto r = store.ApplyChanges(batch);
          if (!r.ok()) state.SkipWithError(std::string(r.status().message()).c_str());
          ServiceSnapshotPtr after = store.GetService(batch[0].namespace_(), batch[0].service());
          for (const SlicePtr& slice : after->slices) {
            if (before == nullptr || std::find(before->slices.begin(), before->slices.end(),
                                               slice) == before->slices.end()) {
              out.push_back(slice);
            }
          }
        });
    for (const SlicePtr& slice : commit) {
      benchmark::DoNotOptimize(slice->SerializedProto());
      ++slices;
    }
  }
  state.SetItemsProcessed(state.iterations() * 100);
  state.counters["slices/commit"] =
      benchmark::Counter(static_cast<double>(slices) / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_CommitSerialize);

}  // namespace
}  // namespace slicekeeper::store

BENCHMARK_MAIN();
