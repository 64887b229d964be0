// The systems etcd_baseline compares, behind one interface: the real `slicekeeper` binary (any
// --store, driven over gRPC: StreamChanges for writes, Watch with the ENDPOINTS or SLICES view for
// watchers) and raw etcd (one key per endpoint, a batch as one Txn, a Watch per watched service).
// The driver (etcd_baseline.cc) sends the same bench/churn.h batches to each and measures acks and
// watcher deliveries with one clock (NowNs) in one process.
//
// Deliveries: a watcher has "delivered" revision R of service s when it received an event of s
// carrying revision R; since revisions per service only grow, it then holds every change of s up
// to R. slicekeeper's watch coalesces (two commits of a service before a send arrive as one diff
// at the newer revision), raw etcd's does not; the driver counts a batch delivered at the first
// delivery whose revision is >= the batch's, which treats both alike.
//
// Thread-safety: DeliveryLog is thread-safe. A System and its ChangeWriter are driven from one
// thread (the driver's); their acks and deliveries arrive on other threads.
#ifndef SLICEKEEPER_BENCH_BASELINE_SYSTEMS_H_
#define SLICEKEEPER_BENCH_BASELINE_SYSTEMS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "bench/churn.h"
#include "bench/proc_stats.h"
#include "slicekeeper/v1/change.pb.h"

namespace slicekeeper::bench {

// Nanoseconds of the monotonic clock; every timestamp of a run comes from here.
int64_t NowNs();

// Every (watcher, service, revision) received, first time only, with its arrival time.
class DeliveryLog {
 public:
  struct Delivery {
    int service;
    int64_t revision;
    int64_t ns;
  };

  DeliveryLog(int watchers, int services)
      : log_(watchers), max_(watchers, std::vector<int64_t>(services, 0)) {}

  // Watcher `watcher` received revision `revision` of `service` at NowNs() = `ns`. Ignored unless
  // it is newer than what that watcher had of that service.
  void Record(int watcher, int service, int64_t revision, int64_t ns) ABSL_LOCKS_EXCLUDED(mu_);
  // The newest revision watcher `watcher` has of `service` (0: none).
  int64_t Max(int watcher, int service) ABSL_LOCKS_EXCLUDED(mu_);
  // Returns the deliveries recorded since the last Take, per watcher in arrival order.
  std::vector<std::vector<Delivery>> Take() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  std::vector<std::vector<Delivery>> log_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<int64_t>> max_ ABSL_GUARDED_BY(mu_);
};

// A pipelined writer of batches. Acks come back through AckFn, on the writer's threads, in any
// order across services.
class ChangeWriter {
 public:
  // ok == false: the batch failed (revision 0); `message` says why.
  using AckFn = std::function<void(uint64_t id, int64_t revision, bool ok, int64_t ack_ns,
                                   const std::string& message)>;
  virtual ~ChangeWriter() = default;
  // Sends one batch, all of whose changes belong to service `service`. Does not wait for its ack.
  // False when the writer is broken (the batch was not sent).
  virtual bool Send(uint64_t id, int service, std::vector<v1::EndpointChange> changes) = 0;
  // Waits until every sent batch has been acked (or failed). Call once, last.
  virtual void Finish() = 0;
};

class System {
 public:
  virtual ~System() = default;
  // Writes the initial `services` x endpoints-per-service endpoints (churn.Fill).
  virtual absl::Status Fill(const Churn& churn, int services) = 0;
  // Opens one watcher per entry of `services_of_watcher` (the services it watches) recording into
  // `log`, and returns once every watcher holds the current state. REQUIRES: `log` outlives
  // StopWatchers.
  virtual absl::Status Watch(const std::vector<std::vector<int>>& services_of_watcher,
                             DeliveryLog* log) = 0;
  virtual void StopWatchers() = 0;
  virtual absl::StatusOr<std::unique_ptr<ChangeWriter>> NewWriter(ChangeWriter::AckFn on_ack) = 0;
  // The system's processes: (label, pid), e.g. {"slicekeeper", 1234}, {"etcd", 1240}. The
  // harness reads their CPU, context switches, page faults and RSS from /proc around each phase.
  virtual std::vector<std::pair<std::string, int>> Processes() const = 0;

  // What the system holds, to check a restart lost nothing: its revision and its live keys
  // (slicekeeper: endpoints; raw etcd: keys under /bench/).
  struct State {
    int64_t revision = 0;
    int64_t live = 0;
    bool operator==(const State&) const = default;
  };
  virtual absl::StatusOr<State> ReadState() = 0;
  // Bytes on disk of the system's data directories (0: it keeps none).
  virtual int64_t DataBytes() const = 0;
  // A crash and a restart: stops the watchers, SIGKILLs every process of the system, starts them
  // again on the same data and returns how long they took to serve again (slicekeeper: until its
  // port file, written once the store is loaded; etcd: until it answers a linearizable Range).
  // Errors: UNIMPLEMENTED for a system without durable state (memory store, null server).
  virtual absl::StatusOr<absl::Duration> KillAndRestart() = 0;
};

// Bytes of the regular files under `dir`, recursively (du -sb); 0 when it does not exist.
int64_t DirectoryBytes(const std::string& dir);

struct SlicekeeperOptions {
  std::string binary;
  // The process's name in Rss().
  std::string label = "slicekeeper";
  // --store=... and the backend's flags.
  std::vector<std::string> args;
  // StreamChanges streams a writer opens; batches go to stream (service % streams).
  int streams = 1;
  // Watch view: SLICES when true, ENDPOINTS otherwise.
  bool watch_slices = false;
  // When set, the server's --store=etcd runs over a 1-member etcd the System starts (and owns)
  // from this binary with these flags; "--etcd_endpoints=<its URL>" is appended to args.
  std::string etcd_binary;
  std::vector<std::string> etcd_args;
  // Whether the server keeps data on disk (--store=rocksdb): the System then passes a
  // --data_dir of its own, which outlives a KillAndRestart and is removed with the System.
  bool durable = false;
};
absl::StatusOr<std::unique_ptr<System>> StartSlicekeeper(SlicekeeperOptions options);

// Raw etcd: a fresh 1-member cluster; key /bench/<ns>/<service>/<pod name> -> v1.Endpoint bytes.
absl::StatusOr<std::unique_ptr<System>> StartRawEtcd(std::string etcd_binary,
                                                     std::vector<std::string> etcd_args);

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_BASELINE_SYSTEMS_H_
