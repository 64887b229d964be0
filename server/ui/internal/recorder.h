// Recorder: the operator view's model of the store, fed only by the watch hub. Private to
// server/ui.
//
// One marks-only hub subscriber over every service (watch::Selection::marks_only) tells the
// recorder's thread which services changed (coalesced: the newest version of each, taken at most
// every Options::min_interval); the thread keeps, per service, its latest snapshot and summary
// (ready / serving / terminating by zone), the running totals, a ring of per-second samples
// (writes, endpoints added / removed / condition flips, propagation lag p50 / p99 from the watch
// send-lag histogram) and a ring of recent per-service events. Churn is counted between the
// versions the recorder sees: an endpoint added and removed again within one interval counts as
// neither. Nothing here reads the store in a loop: the catalog comes from the hub's marks, and a
// tick only closes the current second's sample.
//
// Live pages are `Queue`s: the recorder adds the keys of changed services to each open queue and
// notifies it. A queue is bounded whatever the change rate: keys coalesce (a set, at most
// `max_queue_keys`; beyond that it is cleared and flagged for a resync, so the page refetches the
// table), events are capped (the oldest dropped), and samples are a flag. A page that does not
// read holds at most that much on the server.
//
// Memory: O(services) (their snapshots are shared with the store; ~300 bytes of row and summary
// each) + 4 bytes per endpoint of the services above SummaryCache::kKeepAbove endpoints (the
// summaries' address hashes, see summary.h) + the two fixed rings + per queue O(max_queue_keys).
//
// Thread-safety: every method is safe to call concurrently. Lock order: mu_ -> Queue::mu_.
#ifndef SLICEKEEPER_SERVER_UI_INTERNAL_RECORDER_H_
#define SLICEKEEPER_SERVER_UI_INTERNAL_RECORDER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/metrics/metrics.h"
#include "server/store/store.h"
#include "server/ui/internal/summary.h"
#include "server/watch/hub.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::ui::internal {

// What the table shows of a service's Summary (summary.h). Its zones are counted again from the
// snapshot when a page asks for the one service: a vector of zones per row was 2 MB of a
// 10 000-service server.
struct RowSummary {
  int64_t slices = 0;
  int64_t mod_revision = 0;
  EndpointCounts endpoints;
  int64_t zones = 0;  // with endpoints
};

// One service as the table shows it.
struct ServiceRow {
  store::ServiceSnapshotPtr snapshot;  // never null; names the service
  RowSummary summary;
  // When the recorder saw its last change (InfinitePast: not since the server started).
  absl::Time last_change = absl::InfinitePast();
  // Changes the recorder saw since the server started (coalesced ones count once).
  int64_t changes = 0;
};

// One second of churn.
struct Sample {
  int64_t unix_seconds = 0;
  int64_t writes = 0;  // revisions committed
  int64_t added = 0;
  int64_t removed = 0;
  int64_t flips = 0;  // endpoints whose ready / serving / terminating changed
  // Watch send lag of the messages written in that second (-1: none written).
  double lag_p50_ms = -1;
  double lag_p99_ms = -1;
};

// One change of one service.
struct Event {
  absl::Time time;
  int64_t revision = 0;
  std::string namespace_;
  std::string name;
  bool deleted = false;
  int64_t added = 0;
  int64_t removed = 0;
  int64_t flips = 0;
  int64_t ready = 0;
  int64_t total = 0;
};

struct Totals {
  int64_t revision = 0;
  int64_t services = 0;
  int64_t slices = 0;
  EndpointCounts endpoints;
};

// What one open page is waiting for.
class Queue {
 public:
  struct Taken {
    bool resync = false;
    bool sample = false;
    std::vector<std::string> keys;  // "namespace/name"
    std::vector<Event> events;
    int64_t dropped_events = 0;
  };

  // `notify` wakes the page's sender (ResponseStream::Notify); it is called under the recorder's
  // lock and must never block. At most `max_keys` keys and `max_events` events are held.
  Queue(std::function<void()> notify, size_t max_keys, size_t max_events)
      : notify_(std::move(notify)), max_keys_(max_keys), max_events_(max_events) {}

  // Everything pushed since the last Take.
  Taken Take() ABSL_LOCKS_EXCLUDED(mu_);

  // Largest number of keys + events held at once (the test's server-side bound).
  size_t high_water() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t coalesced() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t resyncs() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class Recorder;
  void Push(const std::vector<std::string>& keys, const std::vector<Event>& events, bool sample)
      ABSL_LOCKS_EXCLUDED(mu_);

  const std::function<void()> notify_;
  const size_t max_keys_;
  const size_t max_events_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> keys_ ABSL_GUARDED_BY(mu_);
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  bool resync_ ABSL_GUARDED_BY(mu_) = false;
  bool sample_ ABSL_GUARDED_BY(mu_) = false;
  int64_t dropped_events_ ABSL_GUARDED_BY(mu_) = 0;
  size_t high_water_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t coalesced_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t resyncs_ ABSL_GUARDED_BY(mu_) = 0;
};

class Recorder : private watch::Sink {
 public:
  struct Options {
    // Stamps samples, events and rows. Null: RealClock(). The thread's schedule (min_interval,
    // the once-a-second tick) is real time whatever the clock: tests drive Process and Tick.
    Clock* clock = nullptr;
    // Propagation lag source (the watch send-lag histogram, seconds). Null: no lag plot.
    const metrics::Histogram* lag = nullptr;
    // Per-second samples kept (900: the last 15 minutes).
    size_t samples = 900;
    // Recent events kept.
    size_t events = 512;
    // The thread processes the hub's marks at most this often: in between, the subscriber
    // coalesces them (newest version per service), so the view costs O(changed services' endpoints)
    // per interval whatever the commit rate.
    absl::Duration min_interval = absl::Milliseconds(100);
  };

  Recorder(store::Store* store, watch::Hub* hub, Options options);
  ~Recorder() override;
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Subscribes to the hub and starts the thread. REQUIRES: the hub is started.
  void Start() ABSL_LOCKS_EXCLUDED(mu_, wake_mu_);
  // Unsubscribes and joins the thread. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_, wake_mu_);

  // Processes the hub's marks now (tests; the thread does it on every wake). Returns the
  // revision the model reflects.
  int64_t Process() ABSL_LOCKS_EXCLUDED(mu_);
  // Closes the current second's sample (tests; the thread does it every second).
  void Tick() ABSL_LOCKS_EXCLUDED(mu_);

  Totals totals() const ABSL_LOCKS_EXCLUDED(mu_);
  // The totals of the rows `keep` accepts (the revision is the view's).
  Totals TotalsOf(const std::function<bool(const ServiceRow&)>& keep) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Rows in (namespace, name) order, those `keep` accepts.
  std::vector<ServiceRow> Rows(const std::function<bool(const ServiceRow&)>& keep) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // One row; false when the service is unknown.
  bool Row(absl::string_view key, ServiceRow* out) const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<Sample> Samples() const ABSL_LOCKS_EXCLUDED(mu_);
  // The newest sample closed (a zero one before the first tick).
  Sample LastSample() const ABSL_LOCKS_EXCLUDED(mu_);
  // Recent events, oldest first; only those of `key` unless it is empty.
  std::vector<Event> Events(absl::string_view key) const ABSL_LOCKS_EXCLUDED(mu_);

  // Open pages. A queue must be removed before it is destroyed.
  void AddQueue(Queue* q) ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveQueue(Queue* q) ABSL_LOCKS_EXCLUDED(mu_);
  // Open queues, their summed high-water marks and coalesced keys, resyncs.
  struct QueueStats {
    int64_t open = 0;
    int64_t max_high_water = 0;
    int64_t coalesced = 0;
    int64_t resyncs = 0;
  };
  QueueStats queue_stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Wake() override ABSL_LOCKS_EXCLUDED(wake_mu_);
  void Run() ABSL_LOCKS_EXCLUDED(mu_, wake_mu_);
  void Apply(const std::string& key, const watch::ServiceVersion& version, absl::Time now,
             std::vector<Event>* events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddToTotals(const RowSummary& s, int sign) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  store::Store* const store_;
  watch::Hub* const hub_;
  const Options options_;
  Clock* const clock_;
  std::shared_ptr<watch::Subscriber> sub_;
  std::thread thread_;

  absl::Mutex wake_mu_;
  bool woken_ ABSL_GUARDED_BY(wake_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(wake_mu_) = false;

  // A row and what its summary was computed from, so the next change of a large service reads
  // only the slices it rewrote (one map: a second one keyed by service cost ~120 bytes a service).
  struct Tracked {
    ServiceRow row;
    SummaryCache summaries;
  };

  mutable absl::Mutex mu_;
  std::map<std::string, Tracked> rows_ ABSL_GUARDED_BY(mu_);
  Totals totals_ ABSL_GUARDED_BY(mu_);
  Sample current_ ABSL_GUARDED_BY(mu_);
  int64_t sampled_revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> lag_counts_ ABSL_GUARDED_BY(mu_);
  std::deque<Sample> samples_ ABSL_GUARDED_BY(mu_);
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  std::vector<Queue*> queues_ ABSL_GUARDED_BY(mu_);
  // Totals of queues already removed.
  int64_t closed_coalesced_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t closed_resyncs_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace slicekeeper::ui::internal

#endif  // SLICEKEEPER_SERVER_UI_INTERNAL_RECORDER_H_
