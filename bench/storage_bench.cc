// Durable storage: what persisting every commit costs, and how long a restart takes.
//
// (a) BM_DurableApply/<backend>: Store::ApplyChanges of 100-change batches from 2 writer threads
//     over 1 000 services of ~100 endpoints (each thread its own half, one service per batch),
//     as bench/store_bench.cc's BM_StoreApply. Backends: `memory` (a store without storage, the
//     baseline of the same run), `rocksdb_always` (RocksDbStorage, fsync per commit; concurrent
//     commits share one fsync) and `rocksdb_batch` (log synced every 5 ms). items/s = endpoint
//     changes per second over both threads; the summary prints each durable figure over memory.
// (b) Restart (plain timing, after the benchmarks): a store of 10 000 services x 100 endpoints
//     (1 M endpoints) built on RocksDB with sync=none in batches of 100 services, closed, then
//     reopened twice (RocksDbStorage::Open + Store::Open: WAL replay, every key read, shards,
//     slice-name index and the history window rebuilt). Reports seconds per open and on-disk
//     bytes per endpoint (file sizes in the data dir after close / 1 M). The page cache is warm:
//     a cold start after a reboot reads the same bytes from disk first.
//
// Data directories are created under $TMPDIR (default /tmp) and removed at the end.
//
//   build-x/bench/storage_bench --benchmark_min_time=0.5
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/churn.h"
#include "benchmark/benchmark.h"
#include "server/storage/rocksdb_storage.h"
#include "server/store/store.h"

namespace slicekeeper::store {
namespace {

using bench::Churn;
using storage::RocksDbStorage;

constexpr int kServices = 1000;
constexpr int kEndpointsPerService = 100;
constexpr int kRestartServices = 10'000;
constexpr int kRestartEndpointsPerService = 100;
constexpr int kServicesPerFillBatch = 100;

enum Backend : int64_t { kMemory = 0, kRocksDbAlways = 1, kRocksDbBatch = 2 };

const char* BackendName(int64_t backend) {
  switch (backend) {
    case kMemory:
      return "memory";
    case kRocksDbAlways:
      return "rocksdb_always";
    default:
      return "rocksdb_batch";
  }
}

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / ("sk_storage_bench_" + tag + "_XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) {
      fprintf(stderr, "mkdtemp %s failed\n", pattern.c_str());
      abort();
    }
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

  // The sizes of the regular files below the directory, by extension ("" for none), and "total".
  std::map<std::string, int64_t> Bytes() const {
    std::map<std::string, int64_t> out;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path_)) {
      if (!entry.is_regular_file()) continue;
      const auto size = static_cast<int64_t>(entry.file_size());
      out[entry.path().extension().string()] += size;
      out["total"] += size;
    }
    return out;
  }

 private:
  std::string path_;
};

// Dies with `what` and the status: a benchmark over a broken store measures nothing.
template <typename T>
T CheckOk(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) {
    fprintf(stderr, "%s: %s\n", what, v.status().ToString().c_str());
    abort();
  }
  return *std::move(v);
}

// A store (with its storage and directory) for one backend. Members are destroyed bottom-up:
// the store before its storage, the storage before its directory.
struct Env {
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<RocksDbStorage> storage;
  std::unique_ptr<Store> store;
};

// Opens a store over RocksDB at `path` ("" : a store without storage).
Env OpenEnv(const std::string& path, RocksDbStorage::SyncMode sync) {
  Env env;
  Store::Options options;
  if (!path.empty()) {
    env.storage = CheckOk(RocksDbStorage::Open({.path = path, .sync = sync}), "open");
    options.storage = env.storage.get();
  }
  env.store = CheckOk(Store::Open(options), "Store::Open");
  return env;
}

// Creates services [0, services) of `per_service` endpoints, kServicesPerFillBatch per commit.
void Fill(Store& store, int services, int per_service) {
  const Churn churn(services, per_service, 0);
  for (int first = 0; first < services; first += kServicesPerFillBatch) {
    std::vector<v1::EndpointChange> batch;
    for (int s = first; s < first + kServicesPerFillBatch && s < services; ++s) {
      for (v1::EndpointChange& c : churn.Fill(s)) batch.push_back(std::move(c));
    }
    CheckOk(store.ApplyChanges(batch), "fill");
  }
}

absl::Mutex env_mu;
std::map<int64_t, Env>& Envs() {
  static auto* const envs = new std::map<int64_t, Env>();
  return *envs;
}

// The filled store of `backend`, created on first use (by whichever writer thread comes first).
Store& StoreFor(int64_t backend) {
  absl::MutexLock l(&env_mu);
  auto it = Envs().find(backend);
  if (it == Envs().end()) {
    Env env;
    if (backend == kMemory) {
      env = OpenEnv("", RocksDbStorage::SyncMode::kNone);
    } else {
      auto dir = std::make_unique<TempDir>(BackendName(backend));
      env = OpenEnv(dir->path(), backend == kRocksDbAlways ? RocksDbStorage::SyncMode::kAlways
                                                           : RocksDbStorage::SyncMode::kBatch);
      env.dir = std::move(dir);
    }
    Fill(*env.store, kServices, kEndpointsPerService);
    it = Envs().emplace(backend, std::move(env)).first;
  }
  return *it->second.store;
}

void BM_DurableApply(benchmark::State& state) {
  const int64_t backend = state.range(0);
  state.SetLabel(BackendName(backend));
  Store& store = StoreFor(backend);
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
BENCHMARK(BM_DurableApply)
    ->ArgName("backend")
    ->Arg(kMemory)
    ->Arg(kRocksDbAlways)
    ->Arg(kRocksDbBatch)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// The same, one writer, with items/s per second of the whole process's CPU (the log's group-commit
// thread and RocksDB's own threads included), not of wall time: what durability costs in CPU per
// change on top of the memory store's work (issue 20's RocksDB budget, BENCHMARKS.md). With
// sync=batch one sync serves the many commits of 5 ms, so its difference from the memory store is
// RocksDB's write path (the log record, the memtables, flushes and compactions) nearly without
// the per-commit sync.
BENCHMARK(BM_DurableApply)
    ->Name("BM_DurableApplyProcessCpu")
    ->ArgName("backend")
    ->Arg(kMemory)
    ->Arg(kRocksDbAlways)
    ->Arg(kRocksDbBatch)
    ->MeasureProcessCPUTime();

// The device's floor for sync=always: write `bytes` and fdatasync, one thread; items/s = syncs
// per second, and the CPU column is what each sync costs the thread that makes it. mode 0
// appends to a file that grows, so each sync also writes the inode (its size); mode 1 overwrites
// a preallocated 1 MiB file in turn (a recycled log: only the data is written); mode 2 appends
// into space reserved with fallocate(FALLOC_FL_KEEP_SIZE), as RocksDB writes its log here. Mode 1
// is not what the server does: RocksDB recycles log files only with
// WALRecoveryMode::kSkipAnyCorruptedRecords (it sanitizes recycle_log_file_num to 0 under the
// point-in-time recovery the server uses, which stops at the first torn record), so each sync
// of the server's log is mode 2's.
void BM_Fdatasync(benchmark::State& state) {
  const int mode = static_cast<int>(state.range(0));
  const int64_t bytes = state.range(1);
  state.SetLabel(mode == 0 ? "append" : mode == 1 ? "overwrite" : "append into fallocated");
  TempDir dir("fdatasync");
  const std::string path = dir.path() + "/log";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  constexpr int64_t kFile = 1 << 20;
  const std::string block(bytes, 'x');
  bool ok = fd >= 0;
  if (ok && mode == 1) {
    for (int64_t off = 0; ok && off + bytes <= kFile; off += bytes) {
      ok = pwrite(fd, block.data(), bytes, off) == bytes;
    }
    ok = ok && fsync(fd) == 0;
  }
  int64_t offset = 0;
  int64_t reserved = 0;
  for (auto _ : state) {
    if (!ok) break;
    if (mode == 2 && offset + bytes > reserved) {
      ok = fallocate(fd, FALLOC_FL_KEEP_SIZE, reserved, kFile) == 0;
      reserved += kFile;
    }
    ok = ok && pwrite(fd, block.data(), bytes, offset) == bytes && fdatasync(fd) == 0;
    offset = mode == 1 ? (offset + bytes) % (kFile - kFile % bytes) : offset + bytes;
  }
  if (!ok) state.SkipWithError("open, fallocate, write or fdatasync failed");
  if (fd >= 0) close(fd);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Fdatasync)
    ->ArgNames({"mode", "bytes"})
    ->ArgsProduct({{0, 1, 2}, {4096, 16384}})
    ->UseRealTime();

// The console reporter, also keeping items/s per backend for the summary.
class Reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      auto it = run.counters.find("items_per_second");
      if (run.run_type == Run::RT_Iteration && !run.error_occurred && it != run.counters.end()) {
        items_per_second[{run.report_label, static_cast<int>(run.threads)}] = it->second.value;
      }
    }
  }
  // (label, threads) -> items/s.
  std::map<std::pair<std::string, int>, double> items_per_second;
};

void PrintApplySummary(const std::map<std::pair<std::string, int>, double>& rates) {
  printf("\nApplyChanges, 100-change batches over %d services (endpoint changes/s):\n", kServices);
  for (int threads : {1, 2}) {
    auto memory = rates.find({BackendName(kMemory), threads});
    if (memory == rates.end() || memory->second <= 0) continue;
    for (int64_t b : {kMemory, kRocksDbAlways, kRocksDbBatch}) {
      auto it = rates.find({BackendName(b), threads});
      if (it == rates.end()) continue;
      printf("  %d writer(s)  %-15s %10.0f /s  %.2fx memory\n", threads, it->first.first.c_str(),
             it->second, it->second / memory->second);
    }
  }
}

// (b), first half: builds 1 M endpoints on RocksDB at `dir` and closes it; prints the build time
// and the bytes on disk.
void BuildRestartStore(const TempDir& dir, int64_t endpoints) {
  const absl::Time start = absl::Now();
  {
    Env env = OpenEnv(dir.path(), RocksDbStorage::SyncMode::kNone);
    Fill(*env.store, kRestartServices, kRestartEndpointsPerService);
    if (env.store->totals().endpoints != endpoints) abort();
  }
  const double build_s = absl::ToDoubleSeconds(absl::Now() - start);
  const std::map<std::string, int64_t> bytes = dir.Bytes();
  printf("\nRestart, %d services x %d endpoints = %lld endpoints on RocksDB:\n", kRestartServices,
         kRestartEndpointsPerService, static_cast<long long>(endpoints));
  printf("  build (sync=none, %d services per commit): %.2f s\n", kServicesPerFillBatch, build_s);
  printf("  on disk after close: %lld bytes = %.1f bytes/endpoint (",
         static_cast<long long>(bytes.at("total")),
         static_cast<double>(bytes.at("total")) / static_cast<double>(endpoints));
  for (const auto& [ext, n] : bytes) {
    if (ext == "total") continue;
    printf(" %s:%lld", ext.empty() ? "(none)" : ext.c_str(), static_cast<long long>(n));
  }
  printf(" )\n");
}

// (b), second half: one restart (RocksDbStorage::Open + Store::Open) over `dir`, timed.
void TimeOpen(const TempDir& dir, int round, int64_t endpoints) {
  const absl::Time start = absl::Now();
  Env env;
  env.storage = CheckOk(RocksDbStorage::Open({.path = dir.path()}), "open");
  const double open_s = absl::ToDoubleSeconds(absl::Now() - start);
  Store::Options options;
  options.storage = env.storage.get();
  env.store = CheckOk(Store::Open(options), "Store::Open");
  const double total_s = absl::ToDoubleSeconds(absl::Now() - start);
  const Totals totals = env.store->totals();
  if (totals.endpoints != endpoints) abort();
  printf(
      "  open %d: %.2f s (RocksDbStorage::Open %.2f s + Store::Open %.2f s), %lld slices, "
      "revision %lld\n",
      round, total_s, open_s, total_s - open_s, static_cast<long long>(totals.slices),
      static_cast<long long>(env.store->revision()));
}

void MeasureRestart() {
  const int64_t endpoints = int64_t{kRestartServices} * kRestartEndpointsPerService;
  const TempDir dir("restart");
  BuildRestartStore(dir, endpoints);
  for (int round = 1; round <= 2; ++round) TimeOpen(dir, round, endpoints);
}

}  // namespace
}  // namespace slicekeeper::store

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  slicekeeper::store::Reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  slicekeeper::store::Envs().clear();
  slicekeeper::store::PrintApplySummary(reporter.items_per_second);
  slicekeeper::store::MeasureRestart();
  return 0;
}
