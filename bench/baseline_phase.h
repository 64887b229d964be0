// One measured phase of etcd_baseline: a paced (or unthrottled) writer of churn batches against a
// System, then the watchers' deliveries joined with the writer's sends and acks. See
// etcd_baseline.cc for the definitions of the figures.
//
// Thread-safety: RunPhase is called from one thread; it owns the writer for the phase.
#ifndef SLICEKEEPER_BENCH_BASELINE_PHASE_H_
#define SLICEKEEPER_BENCH_BASELINE_PHASE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "bench/baseline_systems.h"
#include "bench/churn.h"
#include "bench/proc_stats.h"

namespace slicekeeper::bench {

struct Workload {
  int services = 100;
  int endpoints = 100;
  int batch = 100;
  // Batches sent and not yet acked, at most. REQUIRES: <= services (one per service in flight).
  int max_inflight = 64;
  absl::Duration duration = absl::Seconds(10);
  // When > 0, a phase also ends once it has sent this many batches (bench/soak's segments).
  int64_t max_batches = 0;
  // watch[w]: the services watcher w watches.
  std::vector<std::vector<int>> watch;
};

// What a phase cost one process of the system, from /proc/<pid>/stat and /proc/<pid>/status read
// before the first batch and after the watchers caught up (bench/proc_stats.h): CPU (user +
// system) per endpoint change acked, context switches and minor page faults per batch acked, and
// resident memory at the end.
struct ProcessCost {
  std::string name;
  bool ok = false;  // false: /proc could not be read (the process died)
  double cpu_us_per_change = 0;
  double voluntary_switches_per_batch = 0, involuntary_switches_per_batch = 0;
  double minor_faults_per_batch = 0;
  int64_t rss_kib = 0;
};

// Samples the processes before a phase; Cost() divides what they spent since by its work.
class CostMeter {
 public:
  explicit CostMeter(std::vector<std::pair<std::string, int>> processes);
  std::vector<ProcessCost> Cost(int64_t changes, int64_t batches) const;

 private:
  std::vector<std::pair<std::string, int>> processes_;
  std::vector<ProcStats> before_;
};

struct PhaseResult {
  std::string system, phase;
  double target_rate = 0;  // endpoint changes/s; 0: unthrottled
  double achieved = 0;     // endpoint changes acked per second
  bool saturated = false;  // a fixed rate below 95 % of its target (always true for peak)
  int64_t batches_sent = 0, batches_acked = 0, batches_failed = 0;
  std::string first_error;
  int64_t deliveries = 0, missing = 0;  // (batch, watcher of its service) pairs
  // Write latency in ms, send->ack (what a StreamChanges client waits for its ack).
  double write_p50 = 0, write_p99 = 0;
  // Propagation latency in ms: ack->event and send->event.
  double ack_p50 = 0, ack_p99 = 0, ack_p999 = 0;
  double send_p50 = 0, send_p99 = 0, send_p999 = 0;
  // Per process of the system. For the "load" phase: the initial fill (changes = its endpoints,
  // batches = its services) and the watchers' opening.
  std::vector<ProcessCost> processes;
};

// Sums over the phase's processes (a slicekeeper over etcd costs both): CPU per change, RSS.
double CpuUsPerChange(const PhaseResult& p);
int64_t RssKiBTotal(const PhaseResult& p);

// Fills `churn`'s services into the system and opens the watchers of wl.watch recording into
// `log`, measured as the phase "load".
PhaseResult RunLoad(System& sys, const Churn& churn, DeliveryLog& log, const Workload& wl);

// Sends batches of wl.batch changes of `churn` (service i % services for the i-th) for
// wl.duration (or wl.max_batches batches, whichever ends first) at `rate` changes/s (0: as fast as
// acks allow), waits for every ack and for the watchers to catch up (up to 15 s), and measures.
// REQUIRES: `log` is the one sys.Watch records into.
PhaseResult RunPhase(System& sys, Churn& churn, DeliveryLog& log, const Workload& wl, double rate);

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_BASELINE_PHASE_H_
