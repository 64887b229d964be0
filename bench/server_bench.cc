// gRPC server throughput over loopback, memory store (api::Server in process, real sockets):
//   BM_StoreDirect            baseline: the same batches applied to the store with no gRPC
//   BM_StreamChanges/W        W concurrent writers, each its own connection and StreamChanges
//                             stream, 100-change batches written back to back (flow control and
//                             the server's ack queue bound what is in flight); items/s = endpoint
//                             changes acked per second, summed over writers
//   BM_StreamChangesDurable/W the same over RocksDB with sync=always (acks after a group sync)
//   BM_QueryEndpoints/T       T client threads querying a 1 000-endpoint service with a zone
//                             filter (ROUTABLE); items/s = queries per second
//   BM_QueryEndpointsServer/C/N the same query over C channels (connections), each with N calls
//                             in flight from its own thread through a generic stub that does not
//                             decode the answers (bench/query_load drives the real binary with
//                             h2load, a far cheaper client)
// Ratios of the gRPC figures to the baseline come from one run. Results: BENCHMARKS.md.
//
//   build-x/bench/server_bench --benchmark_min_time=1
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bench/churn.h"
#include "bench/query_workload.h"
#include "benchmark/benchmark.h"
#include "google/protobuf/arena.h"
#include "server/api/server.h"
#include "server/storage/rocksdb_storage.h"
#include "server/store/store.h"
#include "slicekeeper/v1/discovery.grpc.pb.h"
#include "slicekeeper/v1/registry.grpc.pb.h"

namespace slicekeeper::api {
namespace {

using bench::Churn;

constexpr int kServicesPerWriter = 50;
constexpr int kEndpointsPerService = 100;
constexpr int kBatchesPerWriter = 300;

struct Fixture {
  // `durable`: RocksDB with sync=always in a fresh temp dir (acks after the fsync).
  explicit Fixture(bool durable = false) {
    store::Store::Options so;
    so.history_size = 10'000;
    if (durable) {
      char dir[] = "/tmp/sk_server_bench_XXXXXX";
      if (mkdtemp(dir) == nullptr) std::abort();
      storage::RocksDbStorage::Options ro;
      ro.path = dir;
      ro.sync = storage::RocksDbStorage::SyncMode::kAlways;
      ro.history_size = so.history_size;
      auto opened = storage::RocksDbStorage::Open(ro);
      if (!opened.ok()) std::abort();
      storage = std::move(*opened);
      so.storage = storage.get();
      auto s = store::Store::Open(so);
      if (!s.ok()) std::abort();
      store = std::move(*s);
    } else {
      store = std::make_unique<store::Store>(so);
    }
    Server::Options o;
    o.apply_threads = 0;  // as server/main.cc for rocksdb: the store syncs as a group
    o.listen_address = "127.0.0.1:0";
    o.http_listen_address = "";
    server = std::make_unique<Server>(store.get(), o);
    if (!server->Start().ok()) std::abort();
    address = absl::StrCat("127.0.0.1:", server->grpc_port());
  }
  // A channel of its own (its own TCP connection), so writers do not share one HTTP/2 session.
  std::shared_ptr<grpc::Channel> NewChannel(int id) const {
    grpc::ChannelArguments args;
    args.SetInt("slicekeeper.bench.channel", id);  // distinct args: no subchannel sharing
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }

  std::unique_ptr<storage::RocksDbStorage> storage;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<Server> server;
  std::string address;
};

Fixture& GetFixture() {
  static Fixture* const f = new Fixture();
  return *f;
}

Fixture& GetDurableFixture() {
  static Fixture* const f = new Fixture(/*durable=*/true);
  return *f;
}

// Writer w's next batches: its own services, round robin, generated outside the timed section.
// Each writer keeps one Churn across rounds, so every round is new churn, never a replay.
std::vector<v1::ChangeBatch> Batches(int w) {
  static std::vector<std::unique_ptr<Churn>>* const churns = [] {
    auto* v = new std::vector<std::unique_ptr<Churn>>();
    for (int i = 0; i <= 64; ++i) {
      v->push_back(std::make_unique<Churn>((i + 1) * kServicesPerWriter, kEndpointsPerService,
                                           static_cast<uint32_t>(i + 1)));
    }
    return v;
  }();
  Churn& churn = *(*churns)[w];
  const int first = w * kServicesPerWriter;
  std::vector<v1::ChangeBatch> out(kBatchesPerWriter);
  for (int i = 0; i < kBatchesPerWriter; ++i) {
    out[i].set_batch_id(i);
    for (v1::EndpointChange& c : churn.Batch(first + i % kServicesPerWriter, 100, false)) {
      *out[i].add_changes() = std::move(c);
    }
  }
  return out;
}

void BM_StoreDirect(benchmark::State& state) {
  Fixture& f = GetFixture();
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<v1::ChangeBatch> batches = Batches(/*w=*/64);
    state.ResumeTiming();
    for (const v1::ChangeBatch& b : batches) {
      std::vector<v1::EndpointChange> changes(b.changes().begin(), b.changes().end());
      if (!f.store->ApplyChanges(changes).ok()) state.SkipWithError("apply failed");
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatchesPerWriter * 100);
}
BENCHMARK(BM_StoreDirect)->Unit(benchmark::kMillisecond)->UseRealTime();

// One writer's stream: writes every batch, reads every ack (on a second thread).
bool WriteAll(v1::EndpointRegistry::Stub* stub, const std::vector<v1::ChangeBatch>& batches) {
  grpc::ClientContext ctx;
  auto stream = stub->StreamChanges(&ctx);
  bool ok = true;
  std::thread reader([&] {
    v1::ChangeAck ack;
    size_t n = 0;
    while (stream->Read(&ack)) {
      if (ack.code() != 0 || ack.batch_id() != n) ok = false;
      ++n;
    }
    if (n != batches.size()) ok = false;
  });
  for (const v1::ChangeBatch& b : batches) {
    if (!stream->Write(b)) break;
  }
  stream->WritesDone();
  reader.join();
  return stream->Finish().ok() && ok;
}

void StreamChanges(benchmark::State& state, Fixture& f) {
  const int writers = static_cast<int>(state.range(0));
  std::vector<std::unique_ptr<v1::EndpointRegistry::Stub>> stubs;
  for (int w = 0; w < writers; ++w) stubs.push_back(v1::EndpointRegistry::NewStub(f.NewChannel(w)));
  for (auto _ : state) {
    std::vector<std::vector<v1::ChangeBatch>> batches;
    for (int w = 0; w < writers; ++w) batches.push_back(Batches(w));
    const absl::Time start = absl::Now();
    std::vector<std::thread> threads;
    std::atomic<bool> ok{true};
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        if (!WriteAll(stubs[w].get(), batches[w])) ok = false;
      });
    }
    for (std::thread& t : threads) t.join();
    state.SetIterationTime(absl::ToDoubleSeconds(absl::Now() - start));
    if (!ok) state.SkipWithError("a stream failed");
  }
  state.SetItemsProcessed(state.iterations() * writers * kBatchesPerWriter * 100);
}
void BM_StreamChanges(benchmark::State& state) { StreamChanges(state, GetFixture()); }
BENCHMARK(BM_StreamChanges)
    ->ArgName("writers")
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// The same over RocksDB with --sync=always: every ack waits for a log sync; the batches appended
// while one sync runs (a stream's pipelined batches, other streams' batches) share the next.
void BM_StreamChangesDurable(benchmark::State& state) {
  StreamChanges(state, GetDurableFixture());
}
BENCHMARK(BM_StreamChangesDurable)
    ->ArgName("writers")
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Arg(64)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// The queried service: 1 000 endpoints over 3 zones, 10 % not ready. Filled once.
bool FillQueriedService(Fixture& f) {
  static const bool filled = f.store->ApplyChanges(bench::QueriedServiceChanges()).ok();
  return filled;
}

using bench::ZoneQuery;

void BM_QueryEndpoints(benchmark::State& state) {
  Fixture& f = GetFixture();
  if (!FillQueriedService(f)) state.SkipWithError("fill failed");
  thread_local std::unique_ptr<v1::EndpointDiscovery::Stub> stub =
      v1::EndpointDiscovery::NewStub(f.NewChannel(100 + state.thread_index()));
  const v1::QueryEndpointsRequest req = ZoneQuery();
  size_t endpoints = 0;
  for (auto _ : state) {
    grpc::ClientContext ctx;
    // Decoded on an arena, as a client that cares about its own CPU would.
    google::protobuf::Arena arena;
    auto* resp = google::protobuf::Arena::CreateMessage<v1::QueryEndpointsResponse>(&arena);
    if (!stub->QueryEndpoints(&ctx, req, resp).ok()) state.SkipWithError("query failed");
    endpoints = resp->endpoints_size();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["endpoints"] = static_cast<double>(endpoints);
}
BENCHMARK(BM_QueryEndpoints)->Threads(1)->Threads(4)->UseRealTime();

// The server's side of the same query: one client thread keeps `window` calls in flight through
// a generic stub and never decodes the answers (the bytes are counted), so the client's parsing
// (most of BM_QueryEndpoints' CPU) is not measured; the server still parses every request,
// looks the answer up and sends it.
class QueryLoad {
 public:
  QueryLoad(grpc::GenericStub* stub, const grpc::ByteBuffer& request, int total)
      : stub_(stub), request_(request), total_(total) {}

  // Starts `window` calls; each one that finishes starts the next until `total` have.
  void Start(int window) {
    for (int i = 0; i < window; ++i) StartOne();
  }
  // Returns when all `total` are done; false if any failed.
  bool Wait() {
    done_.WaitForNotification();
    absl::MutexLock l(&mu_);
    return failed_ == 0;
  }
  size_t answer_bytes() {
    absl::MutexLock l(&mu_);
    return answer_bytes_;
  }

 private:
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
  };

  void StartOne() {
    {
      absl::MutexLock l(&mu_);
      if (started_ == total_) return;
      ++started_;
    }
    auto* call = new Call;
    call->request = request_;
    call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    stub_->UnaryCall(&call->context, "/slicekeeper.v1.EndpointDiscovery/QueryEndpoints",
                     grpc::StubOptions(), &call->request, &call->response,
                     [this, call](grpc::Status status) {
                       const size_t bytes = call->response.Length();
                       delete call;
                       bool last = false;
                       {
                         absl::MutexLock l(&mu_);
                         if (!status.ok()) ++failed_;
                         answer_bytes_ = bytes;
                         last = ++finished_ == total_;
                       }
                       if (last) {
                         done_.Notify();
                       } else {
                         StartOne();
                       }
                     });
  }

  grpc::GenericStub* const stub_;
  const grpc::ByteBuffer request_;
  const int total_;
  absl::Mutex mu_;
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  int finished_ ABSL_GUARDED_BY(mu_) = 0;
  int failed_ ABSL_GUARDED_BY(mu_) = 0;
  size_t answer_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Notification done_;
};

void BM_QueryEndpointsServer(benchmark::State& state) {
  Fixture& f = GetFixture();
  if (!FillQueriedService(f)) state.SkipWithError("fill failed");
  constexpr int kQueries = 2000;  // per channel and iteration
  const int channels = static_cast<int>(state.range(0));
  const int in_flight = static_cast<int>(state.range(1));
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (int i = 0; i < channels; ++i) {
    stubs.push_back(std::make_unique<grpc::GenericStub>(f.NewChannel(200 + i)));
  }
  const std::string bytes = ZoneQuery().SerializeAsString();
  grpc::Slice slice(bytes);
  const grpc::ByteBuffer request(&slice, 1);
  size_t answer_bytes = 0;
  for (auto _ : state) {
    std::vector<std::unique_ptr<QueryLoad>> loads;
    for (auto& stub : stubs) {
      loads.push_back(std::make_unique<QueryLoad>(stub.get(), request, kQueries));
    }
    for (auto& load : loads) load->Start(in_flight);
    bool ok = true;
    for (auto& load : loads) ok = load->Wait() && ok;
    if (!ok) state.SkipWithError("a query failed");
    answer_bytes = loads.front()->answer_bytes();
  }
  state.SetItemsProcessed(state.iterations() * kQueries * channels);
  state.counters["answer_bytes"] = static_cast<double>(answer_bytes);
}
BENCHMARK(BM_QueryEndpointsServer)
    ->ArgNames({"channels", "in_flight"})
    ->Args({1, 1})
    ->Args({1, 8})
    ->Args({1, 32})
    ->Args({2, 16})
    ->Args({4, 8})
    ->Args({8, 4})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace slicekeeper::api

BENCHMARK_MAIN();
