// Reconciler throughput: Reconcile + Apply of batches of 1, 100 and 1000 endpoint changes (40%
// ready flips, 30% adds, 30% removes, so the size stays steady) into services of 100, 10k and 100k
// endpoints, one core. items/s = endpoint changes per second.
//
// Baseline in the same run: BM_OracleFullReconcile, the full Kubernetes algorithm
// (tests/reconcile/oracle.h) on the 10k-endpoint service with 100-change batches; the speed-up is
// BM_Reconcile/10000/100 items/s divided by the baseline's. BM_ReconcilePacked: the same batches
// under the packed distribution. BM_SliceRewriteFloor: the part of BM_Reconcile/10000/100 that
// refcounted endpoints make unavoidable (the slices it rewrites, copied). BM_StateFromSlices: a
// replica's rebuild of a service's state, per replicated revision; BM_StateApplyWrites: the same
// revisions followed by the written slices instead. Results: BENCHMARKS.md.
//
//   build-x/bench/reconcile_bench --benchmark_min_time=0.2
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "server/reconcile/reconciler.h"
#include "tests/reconcile/oracle.h"

namespace slicekeeper::reconcile {
namespace {

// Endpoint changes generated ahead of the timed loop, per refill.
constexpr int kChangesPerRefill = 20000;

// A service and its desired endpoints; emits batches in the 40/30/30 mix.
class Workload {
 public:
  explicit Workload(int size) : rng_(42) {
    service_.set_namespace_("bench");
    service_.set_name("svc");
    service_.set_uid("uid-svc");
    service_.add_address_types(kAddressTypeIPv4);
    v1::EndpointPort port;
    port.set_name("http");
    port.set_protocol("TCP");
    port.set_port(8080);
    ports_ = std::make_shared<const PortList>(PortList{port});
    for (int i = 0; i < size; ++i) live_.push_back(Make(next_++, true));
  }

  const v1::ServiceRecord& service() const { return service_; }

  // Every live endpoint as an upsert (to build the initial state).
  std::vector<EndpointDelta> All() const {
    std::vector<EndpointDelta> out;
    for (const Member& m : live_) out.push_back(Upsert(m.endpoint));
    return out;
  }

  // The next batch: F A R F A R F A R F (F = ready flip) on random endpoints.
  std::vector<EndpointDelta> Next(int n) {
    static constexpr char kPattern[] = "FARFARFARF";
    std::vector<EndpointDelta> out;
    out.reserve(n);
    for (int i = 0; i < n; ++i, ++cycle_) {
      const char op = kPattern[cycle_ % 10];
      if (op == 'A') {
        live_.push_back(Make(next_++, true));
        out.push_back(Upsert(live_.back().endpoint));
        continue;
      }
      const size_t pos = std::uniform_int_distribution<size_t>(0, live_.size() - 1)(rng_);
      if (op == 'F') {
        live_[pos] = Make(live_[pos].index, !live_[pos].ready);
        out.push_back(Upsert(live_[pos].endpoint));
        continue;
      }
      EndpointDelta d = Upsert(live_[pos].endpoint);
      d.op = EndpointDelta::Op::kRemove;
      out.push_back(std::move(d));
      live_[pos] = live_.back();
      live_.pop_back();
    }
    return out;
  }

  std::vector<oracle::DesiredEndpoint> Desired() const {
    std::vector<oracle::DesiredEndpoint> out;
    out.reserve(live_.size());
    for (const Member& m : live_) out.push_back({kAddressTypeIPv4, m.endpoint, ports_});
    return out;
  }

 private:
  struct Member {
    int index;
    bool ready;
    EndpointPtr endpoint;
  };

  Member Make(int index, bool ready) const {
    v1::Endpoint proto;
    v1::Endpoint* e = &proto;
    e->add_addresses(
        absl::StrCat("10.", (index >> 16) & 255, ".", (index >> 8) & 255, ".", index & 255));
    e->mutable_conditions()->set_ready(ready);
    e->mutable_conditions()->set_serving(ready);
    e->mutable_target_ref()->set_kind("Pod");
    e->mutable_target_ref()->set_namespace_("bench");
    e->mutable_target_ref()->set_name(absl::StrCat("pod-", index));
    e->set_node_name(absl::StrCat("node-", index % 50));
    e->set_zone(absl::StrCat("zone-", index % 3));
    return {index, ready, EndpointRecord::FromProto(proto)};
  }

  EndpointDelta Upsert(const EndpointPtr& e) const {
    return {EndpointDelta::Op::kUpsert, "bench", "svc", kAddressTypeIPv4, e, ports_};
  }

  std::mt19937_64 rng_;
  v1::ServiceRecord service_;
  PortListPtr ports_;
  std::vector<Member> live_;
  int next_ = 1;
  uint64_t cycle_ = 0;
};

// The plan of one batch, with generated names and uids; null (and the benchmark aborted) on error.
std::optional<Plan> PlanBatch(benchmark::State& st, const ServiceState& state,
                              const v1::ServiceRecord& service,
                              const std::vector<EndpointDelta>& batch, int64_t& names,
                              const Options& options = Options{}) {
  auto gen = [&names](absl::string_view prefix) { return absl::StrCat(prefix, names++); };
  auto uid = [&names]() { return absl::StrCat("uid-", names++); };
  Input in{.service = &service,
           .changes = batch,
           .trigger_time = "2026-11-24T00:00:00Z",
           .creation_timestamp = "2026-11-24T00:00:00Z",
           .generate_name = gen,
           .generate_uid = uid};
  absl::StatusOr<Plan> plan = Reconcile(state, in, options);
  if (!plan.ok()) {
    st.SkipWithError(plan.status().ToString().c_str());
    return std::nullopt;
  }
  return std::move(*plan);
}

// Reconcile + Apply of one batch; aborts the benchmark on error.
bool Step(benchmark::State& st, ServiceState& state, const v1::ServiceRecord& service,
          const std::vector<EndpointDelta>& batch, int64_t& names,
          const Options& options = Options{}) {
  std::optional<Plan> plan = PlanBatch(st, state, service, batch, names, options);
  if (!plan.has_value()) return false;
  state.Apply(*plan);
  return true;
}

void RunReconcile(benchmark::State& st, const Options& options) {
  const int size = static_cast<int>(st.range(0));
  const int batch = static_cast<int>(st.range(1));
  Workload w(size);
  ServiceState state;
  int64_t names = 0;
  if (!Step(st, state, w.service(), w.All(), names, options)) return;
  std::vector<std::vector<EndpointDelta>> pool;
  size_t next = 0;
  auto refill = [&] {
    pool.clear();
    next = 0;
    for (int total = 0; total < kChangesPerRefill; total += batch) pool.push_back(w.Next(batch));
  };
  refill();
  for (auto _ : st) {
    if (next == pool.size()) {
      st.PauseTiming();
      refill();
      st.ResumeTiming();
    }
    if (!Step(st, state, w.service(), pool[next++], names, options)) return;
  }
  st.SetItemsProcessed(st.iterations() * batch);
  st.counters["slices"] = static_cast<double>(state.Slices().size());
  size_t runs = 0;
  for (const SlicePtr& s : state.Slices()) runs += s->endpoints.run_count();
  st.counters["runs"] = static_cast<double>(runs);
}

void BM_Reconcile(benchmark::State& st) { RunReconcile(st, Options{}); }
BENCHMARK(BM_Reconcile)
    ->ArgNames({"endpoints", "batch"})
    ->ArgsProduct({{100, 10000, 100000}, {1, 100, 1000}})
    ->Unit(benchmark::kMicrosecond);

// The packed distribution (docs/distribution.md §5) on the same workload, against BM_Reconcile.
void BM_ReconcilePacked(benchmark::State& st) {
  Options options;
  options.distribution = Distribution::kPacked;
  RunReconcile(st, options);
}
BENCHMARK(BM_ReconcilePacked)
    ->ArgNames({"endpoints", "batch"})
    ->ArgsProduct({{10000}, {1, 100, 1000}})
    ->Unit(benchmark::kMicrosecond);

// The floor under BM_Reconcile/10000/100 that the slices' representation sets (common/
// endpoint_list.h): per slice a batch rewrites, one endpoint found (EndpointList::IndexOf) and
// replaced, the new version built sharing the old one's other runs (EndpointList::Patch), and the
// old version's death; nothing else. The slices rewritten per batch are counted by running the
// reconciler on the same workload first (counter "rewrites").
void BM_SliceRewriteFloor(benchmark::State& st) {
  const int batch = static_cast<int>(st.range(1));
  Workload w(static_cast<int>(st.range(0)));
  ServiceState state;
  int64_t names = 0;
  if (!Step(st, state, w.service(), w.All(), names)) return;
  constexpr int kSampleBatches = 200;
  int64_t written = 0;
  for (int i = 0; i < kSampleBatches; ++i) {
    std::optional<Plan> plan = PlanBatch(st, state, w.service(), w.Next(batch), names);
    if (!plan.has_value()) return;
    written += plan->stats.slices_created + plan->stats.slices_updated;
    state.Apply(*plan);
  }
  const int64_t per_batch = (written + kSampleBatches / 2) / kSampleBatches;
  std::vector<SlicePtr> slices = state.Slices();
  state = ServiceState();          // the old versions die when replaced, as in Apply
  std::vector<EndpointPtr> fresh;  // replacements, taken from the workload's next changes
  for (const EndpointDelta& d : w.Next(static_cast<int>(per_batch) * 4)) {
    if (d.op == EndpointDelta::Op::kUpsert) fresh.push_back(d.endpoint);
  }
  std::mt19937_64 rng(7);
  size_t next_fresh = 0;
  for (auto _ : st) {
    for (int64_t i = 0; i < per_batch; ++i) {
      SlicePtr& old = slices[rng() % slices.size()];
      const EndpointList& list = old->endpoints;
      const size_t pos = list.IndexOf(list[rng() % list.size()].get());
      std::vector<EndpointPtr> replacement = {fresh[next_fresh++ % fresh.size()]};
      auto s = std::make_shared<Slice>();
      s->endpoints = EndpointList::Patch(list, {{pos, false}}, std::move(replacement));
      old = std::move(s);
    }
  }
  st.SetItemsProcessed(st.iterations() * batch);
  st.counters["rewrites"] = static_cast<double>(per_batch);
}
BENCHMARK(BM_SliceRewriteFloor)
    ->ArgNames({"endpoints", "batch"})
    ->Args({10000, 100})
    ->Unit(benchmark::kMicrosecond);

// What a replica over etcd spends per revision of a service, whatever the revision changed:
// ServiceState::FromSlices over the service's slices (store/internal/txn.cc rebuilds the managed
// state after every replicated commit, since the log says which slices changed, not the plan).
void BM_StateFromSlices(benchmark::State& st) {
  Workload w(static_cast<int>(st.range(0)));
  ServiceState state;
  int64_t names = 0;
  if (!Step(st, state, w.service(), w.All(), names)) return;
  const std::vector<SlicePtr> slices = state.Slices();
  for (auto _ : st) {
    ServiceState rebuilt = ServiceState::FromSlices(slices);
    benchmark::DoNotOptimize(rebuilt);
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["slices"] = static_cast<double>(slices.size());
}
BENCHMARK(BM_StateFromSlices)
    ->ArgNames({"endpoints"})
    ->Arg(100)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond);

// The same per revision with ServiceState::ApplyWrites, what the replica does now: the state
// follows the slices a 100-change batch wrote (the commits of BM_Reconcile, recorded first).
void BM_StateApplyWrites(benchmark::State& st) {
  const int batch = static_cast<int>(st.range(1));
  Workload w(static_cast<int>(st.range(0)));
  ServiceState proposer;
  int64_t names = 0;
  if (!Step(st, proposer, w.service(), w.All(), names)) return;
  const std::vector<SlicePtr> initial = proposer.Slices();
  // Each commit's writes: (name, new version or null).
  constexpr int kCommits = 2000;
  std::vector<std::vector<std::pair<std::string, SlicePtr>>> commits;
  for (int i = 0; i < kCommits; ++i) {
    std::optional<Plan> plan = PlanBatch(st, proposer, w.service(), w.Next(batch), names);
    if (!plan.has_value()) return;
    std::vector<std::pair<std::string, SlicePtr>> writes;
    for (const SliceOp& op : plan->ops) {
      writes.emplace_back(op.slice->name,
                          op.kind == SliceOp::Kind::kDelete ? nullptr : SlicePtr(op.slice));
    }
    commits.push_back(std::move(writes));
    proposer.Apply(*plan);
  }
  ServiceState replica = ServiceState::FromSlices(initial);
  size_t next = 0;
  int64_t rebuilt = 0;
  std::vector<ServiceState::SliceWrite> writes;
  for (auto _ : st) {
    if (next == commits.size()) {
      st.PauseTiming();
      replica = ServiceState::FromSlices(initial);
      next = 0;
      st.ResumeTiming();
    }
    writes.clear();
    for (const auto& [name, slice] : commits[next]) writes.push_back({name, slice});
    ++next;
    if (!replica.ApplyWrites(writes)) ++rebuilt;
  }
  st.SetItemsProcessed(st.iterations() * batch);
  st.counters["rebuilt"] = static_cast<double>(rebuilt);
}
BENCHMARK(BM_StateApplyWrites)
    ->ArgNames({"endpoints", "batch"})
    ->ArgsProduct({{100, 1000, 10000}, {1, 10, 100}})
    ->Unit(benchmark::kMicrosecond);

// Baseline: the full algorithm on the same workload (only oracle::Run is timed; the incremental
// reconciler advances the state between iterations).
void BM_OracleFullReconcile(benchmark::State& st) {
  const int size = static_cast<int>(st.range(0));
  const int batch = static_cast<int>(st.range(1));
  Workload w(size);
  ServiceState state;
  int64_t names = 0;
  if (!Step(st, state, w.service(), w.All(), names)) return;
  // Declared outside the loop so that building and destroying them stays out of the timing.
  std::vector<EndpointDelta> changes;
  oracle::Input in;
  oracle::Result r;
  for (auto _ : st) {
    st.PauseTiming();
    changes = w.Next(batch);
    in = oracle::Input{.service = &w.service(),
                       .existing = state.Slices(),
                       .desired = w.Desired(),
                       .max_endpoints_per_slice = Options{}.max_endpoints_per_slice};
    st.ResumeTiming();
    r = oracle::Run(in);
    benchmark::DoNotOptimize(r.slices.data());
    st.PauseTiming();
    if (!Step(st, state, w.service(), changes, names)) return;
    r = oracle::Result();
    st.ResumeTiming();
  }
  st.SetItemsProcessed(st.iterations() * batch);
}
BENCHMARK(BM_OracleFullReconcile)
    ->ArgNames({"endpoints", "batch"})
    ->Args({10000, 100})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace slicekeeper::reconcile

BENCHMARK_MAIN();
