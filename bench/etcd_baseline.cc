// etcd_baseline: "the baseline to beat" (DESIGN §6, "against etcd on the same machine, same churn
// and watchers: >= 10x throughput, <= 1/10 p99 latency"). In one invocation it runs the same
// workload against
//   memory    slicekeeper --store=memory
//   rocksdb   slicekeeper --store=rocksdb --sync=always (data dir in a fresh temp dir)
//   sk-etcd   slicekeeper --store=etcd over a 1-member etcd the bench starts
//   etcd      raw etcd, a fresh 1-member cluster: one key per endpoint, a batch as one Txn, a watch
//             per watched service (bench/baseline_etcd.cc)
//   null      bench/null_server, not in the default list: the same RPCs with none of the work
//             (no parse, validation, reconcile, storage or serialization), the most any server
//             with this API reaches on this machine under this harness (the transport floor)
// each system fresh (its own processes, the real binaries), and prints one table and the ratios.
// The etcds run with --max-txn-ops=10000 --max-request-bytes=10485760.
//
// Workload: --services (N) x --endpoints (M) endpoints loaded first; then one writer sends
// bench/churn.h batches of --batch changes, each batch to one service (round robin), pipelined
// with at most --max_inflight batches unacked (capped at N, so at most one batch per service is in
// flight and raw etcd applies each service's batches in order); slicekeeper over StreamChanges
// (--streams streams, service s on stream s % streams), raw etcd as async Txns on one connection.
// --watchers (K) watchers each watch N * --watch_fraction services (watcher w: services
// w*n .. w*n+n-1 mod N; with the defaults 10 services each, every service watched by 5):
// slicekeeper as one Watch stream per watcher (--view: SLICES, whole EndpointSlices as kube-proxy
// gets them, or ENDPOINTS, per-endpoint deltas like raw etcd's per-key events), raw etcd as one
// watch per (watcher, service). Every system gets the same change sequence (one Churn per system,
// same seed).
//
// Phases per system, in this order:
//   load    the N x M endpoints written (N batches) and the watchers opened: its rate, and its
//           cost per endpoint written;
// then --duration each:
//   common  at --common_rate changes/s, the same for every system (the latency comparison); if
//           raw etcd cannot sustain it, the rate is lowered to at most half of raw etcd's peak
//           and raw etcd's common phase is run again after its peak (raw etcd runs first, so
//           every other system gets the lowered rate);
//   target  at --rate changes/s (skipped when equal to --common_rate);
//   peak    unthrottled: as fast as acks come back with --max_inflight batches in flight.
// A fixed-rate phase whose acked rate is below 95 % of its target is marked saturated.
//
// Metrics: achieved = endpoint changes acked per second (from the first send to the last ack).
// Propagation latency per (batch, watcher of its service): from the ack the writer received
// (ack->ev; negative when the watcher had it first) and from the send (send->ev), to the first
// watcher message carrying a revision >= the batch's revision (acks and events carry the commit
// revision; one process, one monotonic clock). After each phase the bench waits (up to 15 s) for
// the watchers to catch up; deliveries that never came are "missing". Cost, per process of the
// system (the server, and its etcd for sk-etcd; etcd for raw etcd), from /proc between the first
// send and the watchers' catching up: CPU (user + system) µs per endpoint change, voluntary and
// involuntary context switches and minor page faults per batch, VmRSS at the end of the phase and
// per loaded endpoint (N x M; the churn keeps sizes put). Reviewers compare these beside the rates:
// the ratios below set CPU per change against the null server's (the transport floor) and RSS
// against raw etcd's.
//
//   build/bench/etcd_baseline --duration=10s [--systems=etcd,memory,rocksdb,sk-etcd]
//       [--rate=20000 --common_rate=5000 --services=100 --endpoints=100 --watchers=50] [-o json]
// The defaults take about 2.5 minutes on 2 cores. Progress goes to stderr, results to stdout.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "bench/baseline_phase.h"
#include "bench/baseline_report.h"
#include "bench/baseline_systems.h"

#ifndef SK_SLICEKEEPER_BINARY
#define SK_SLICEKEEPER_BINARY ""
#endif
#ifndef SK_NULL_SERVER_BINARY
#define SK_NULL_SERVER_BINARY ""
#endif

ABSL_FLAG(std::string, slicekeeper, SK_SLICEKEEPER_BINARY, "Path of the slicekeeper binary");
ABSL_FLAG(std::string, null_server, SK_NULL_SERVER_BINARY,
          "Path of bench/null_server, the transport floor (--systems=null)");
ABSL_FLAG(std::string, etcd_binary, "/usr/bin/etcd", "Path of the etcd binary");
ABSL_FLAG(std::string, systems, "etcd,memory,rocksdb,sk-etcd",
          "Systems to run, in this order: memory, rocksdb, sk-etcd, etcd (raw etcd)");
ABSL_FLAG(int, services, 100, "Services (N)");
ABSL_FLAG(int, endpoints, 100, "Endpoints per service (M)");
ABSL_FLAG(int, batch, 100, "Changes per batch (B), all in one service");
ABSL_FLAG(double, rate, 20000, "Target rate of the 'target' phase, endpoint changes/s");
ABSL_FLAG(double, common_rate, 5000, "Rate of the 'common' phase (latency comparison)");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "Duration of each phase");
ABSL_FLAG(int, max_inflight, 64, "Batches in flight at most (capped at --services)");
ABSL_FLAG(int, streams, 1, "slicekeeper: StreamChanges streams of the writer");
ABSL_FLAG(int, watchers, 50, "Watchers (K)");
ABSL_FLAG(double, watch_fraction, 0.1, "Fraction of the services each watcher watches");
ABSL_FLAG(std::string, view, "slices",
          "slicekeeper watchers' view: endpoints (per-endpoint deltas, like raw etcd's per-key "
          "events) or slices (whole EndpointSlices, serialized once for every watcher)");
ABSL_FLAG(std::string, o, "table", "Output: table or json");

namespace slicekeeper::bench {
namespace {

const std::vector<std::string> kEtcdArgs = {"--max-txn-ops=10000", "--max-request-bytes=10485760"};

absl::StatusOr<std::unique_ptr<System>> StartSystem(const std::string& kind) {
  const std::vector<std::string> quiet = {"--log_level=warn"};
  SlicekeeperOptions sk{.binary = absl::GetFlag(FLAGS_slicekeeper),
                        .args = quiet,
                        .streams = absl::GetFlag(FLAGS_streams),
                        .watch_slices = absl::GetFlag(FLAGS_view) == "slices"};
  if (kind == "etcd") return StartRawEtcd(absl::GetFlag(FLAGS_etcd_binary), kEtcdArgs);
  if (kind == "memory") {
    sk.args.push_back("--store=memory");
  } else if (kind == "rocksdb") {
    sk.args.insert(sk.args.end(), {"--store=rocksdb", "--sync=always"});
    sk.durable = true;
  } else if (kind == "null") {
    sk.binary = absl::GetFlag(FLAGS_null_server);
    sk.label = "null_server";
  } else if (kind == "sk-etcd") {
    sk.args.insert(sk.args.end(), {"--store=etcd", "--etcd_prefix=/sk/"});
    sk.etcd_binary = absl::GetFlag(FLAGS_etcd_binary);
    sk.etcd_args = kEtcdArgs;
  } else {
    return absl::InvalidArgumentError("unknown system " + kind);
  }
  return StartSlicekeeper(std::move(sk));
}

// Watcher w watches n consecutive services from w * n (mod N).
std::vector<std::vector<int>> Assignment(int services, int watchers, double fraction) {
  const int n = std::max(1, std::min(services, static_cast<int>(services * fraction + 0.5)));
  std::vector<std::vector<int>> out(watchers);
  for (int w = 0; w < watchers; ++w) {
    for (int j = 0; j < n; ++j) out[w].push_back((w * n + j) % services);
  }
  return out;
}

Workload FlagWorkload() {
  return {
      .services = absl::GetFlag(FLAGS_services),
      .endpoints = absl::GetFlag(FLAGS_endpoints),
      .batch = absl::GetFlag(FLAGS_batch),
      .max_inflight = std::min(absl::GetFlag(FLAGS_max_inflight), absl::GetFlag(FLAGS_services)),
      .duration = absl::GetFlag(FLAGS_duration),
      .watch = Assignment(absl::GetFlag(FLAGS_services), absl::GetFlag(FLAGS_watchers),
                          absl::GetFlag(FLAGS_watch_fraction))};
}

// Starts `kind`, loads and watches it, runs its phases. *common_rate may be lowered (raw etcd).
absl::Status RunSystem(const std::string& kind, const Workload& wl, double* common_rate,
                       std::vector<PhaseResult>* results) {
  std::fprintf(stderr, "== %s: starting\n", kind.c_str());
  absl::StatusOr<std::unique_ptr<System>> sys = StartSystem(kind);
  if (!sys.ok()) return sys.status();
  Churn churn(wl.services, wl.endpoints, 7);
  DeliveryLog log(static_cast<int>(wl.watch.size()), wl.services);
  PhaseResult load = RunLoad(**sys, churn, log, wl);
  load.system = kind;
  if (!load.first_error.empty()) return absl::InternalError(load.first_error);
  results->push_back(load);
  const double rate = absl::GetFlag(FLAGS_rate);
  std::vector<std::pair<std::string, double>> phases = {{"common", *common_rate}};
  if (rate > 0 && rate != *common_rate) phases.emplace_back("target", rate);
  phases.emplace_back("peak", 0);
  for (size_t i = 0; i < phases.size(); ++i) {
    const auto [name, r] = phases[i];  // a copy: phases may grow below
    std::fprintf(stderr, "   %s: %s at %.0f changes/s\n", kind.c_str(), name.c_str(), r);
    PhaseResult p = RunPhase(**sys, churn, log, wl, r);
    p.system = kind;
    p.phase = name;
    std::fprintf(stderr, "   -> %.0f changes/s, ack->ev p99 %.2f ms\n", p.achieved, p.ack_p99);
    results->push_back(p);
    // Raw etcd sets the common rate: at most half its peak when it could not sustain the
    // requested one.
    auto common = std::find_if(results->begin(), results->end(),
                               [](const PhaseResult& q) { return q.phase == "common"; });
    if (kind == "etcd" && name == "peak" && common != results->end() && common->saturated) {
      *common_rate = std::min(*common_rate, p.achieved / 2);
      std::erase_if(*results, [](const PhaseResult& q) { return q.phase == "common"; });
      phases.emplace_back("common", *common_rate);
    }
  }
  (*sys)->StopWatchers();
  return absl::OkStatus();
}

int Run() {
  if (absl::GetFlag(FLAGS_slicekeeper).empty()) {
    std::fprintf(stderr, "--slicekeeper=PATH is required\n");
    return 2;
  }
  const std::string view = absl::GetFlag(FLAGS_view);
  if (view != "slices" && view != "endpoints") {
    std::fprintf(stderr, "--view=%s: slices or endpoints\n", view.c_str());
    return 2;
  }
  rlimit nofile{65536, 65536};
  setrlimit(RLIMIT_NOFILE, &nofile);
  const Workload wl = FlagWorkload();
  double common_rate = absl::GetFlag(FLAGS_common_rate);
  std::vector<PhaseResult> results;
  std::vector<std::string> failures;
  for (absl::string_view name : absl::StrSplit(absl::GetFlag(FLAGS_systems), ',')) {
    const std::string kind(name);
    std::vector<PhaseResult> mine;
    absl::Status s = RunSystem(kind, wl, &common_rate, &mine);
    if (!s.ok()) {
      std::fprintf(stderr, "== %s FAILED: %s\n", kind.c_str(), s.ToString().c_str());
      failures.push_back(kind + ": " + s.ToString());
    }
    results.insert(results.end(), mine.begin(), mine.end());
  }
  const Report report{.workload = wl,
                      .rate = absl::GetFlag(FLAGS_rate),
                      .common_rate = common_rate,
                      .streams = absl::GetFlag(FLAGS_streams),
                      .view = view,
                      .phases = results,
                      .failures = failures};
  std::fputs(absl::GetFlag(FLAGS_o) == "json" ? ToJson(report).c_str() : ToTable(report).c_str(),
             stdout);
  return failures.empty() ? 0 : 1;
}

}  // namespace
}  // namespace slicekeeper::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return slicekeeper::bench::Run();
}
