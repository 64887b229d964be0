// Hub: the subscription fan-out between the store and the watch streams (etcd's watchable store,
// Envoy's WatchMap bookkeeping). It knows nothing of gRPC.
//
// The store calls `OnCommit` in revision order from its sequencing step. The hub only records
// which services changed (the newest version of each wins) and signals its dispatcher thread, so a
// writer never waits for a subscriber. A writer that runs its batch to completion (the API's write
// path, in an `InlineDispatch` scope) instead claims the dispatch of its own commit and runs it on
// its thread once the write is published and acked, outside every store lock: no hand-off to the
// dispatcher thread. That costs the writer the marking and the waking (what the dispatcher
// thread would have done), never a wait for a subscriber: a subscriber's sink only starts a write
// when it has none in flight, and when another thread is dispatching the writer leaves its marks
// to it (or to the dispatcher thread) instead of waiting. Commits that come back to back (less
// than `inline_min_gap` apart) are left to the dispatcher thread even in a scope: then the writer
// is the bottleneck, and the fan-out runs beside its next batch on the other core instead of in
// line with it; a sparse commit is dispatched inline, saving the dispatcher's wake-up. The
// dispatcher (`DispatchOnce`) hands each changed service to the subscribers that watch it
// (`Subscriber::MarkDirty`, all marks of a round at once) and wakes those that went from clean to
// dirty; the sink then pulls messages with `Subscriber::Next` when its stream can write. A periodic
// `TickOnce` requests bookmarks for idle subscribers that asked for them and RESETs subscribers
// whose oldest unsent change is older than `max_lag`.
//
// Memory is bounded by services (pending marks) and by subscribers x watched services (their
// dirty sets and last-sent pointers), never by the commit rate. See docs/watch.md.
//
// A resume may read the history from storage (a watcher coming back from before a restart): once
// the hub is started, resumes run on a thread of the hub's own, never on the caller's (a gRPC
// reaction), and the subscriber is woken when its deltas are ready.
//
// Thread-safety: every method is safe to call concurrently. `Start` runs the dispatcher and
// resume threads; tests may instead step `DispatchOnce` / `TickOnce` by hand (resumes then run
// inside Subscribe). Lock order: dispatch_mu_ -> mu_ -> subscriber locks;
// pending_mu_ is never held with another lock. Sinks are woken with no hub lock held.
//
// Example:
//   watch::Hub hub(&store, watch::Hub::Options{});
//   hub.Start();
//   std::shared_ptr<watch::Subscriber> sub = hub.Subscribe(selection, /*resume=*/0, &sink);
//   ... sink.Wake() -> while (auto msg = sub->Next()) write(*msg);
//   hub.Unsubscribe(sub);
#ifndef SLICEKEEPER_SERVER_WATCH_HUB_H_
#define SLICEKEEPER_SERVER_WATCH_HUB_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/store/store.h"
#include "server/watch/sink.h"
#include "server/watch/subscriber.h"

namespace slicekeeper::watch {

struct HubStats {
  int64_t subscribers_slices = 0;
  int64_t subscribers_endpoints = 0;
  // Marks-only subscribers (other front-ends, e.g. xDS streams); not counted below.
  int64_t subscribers_marks = 0;
  int64_t events_sent = 0;  // includes those of closed subscribers
  int64_t coalesced = 0;
  int64_t resets = 0;
  // Subscribers reset by the hub because their oldest unsent change got older than max_lag (a
  // subscriber whose writer is blocked is counted here at once, in `resets` when it next sends).
  int64_t lag_resets = 0;
  int64_t dispatched_revision = 0;
  // Age of the oldest unsent change over all watch subscribers (0 when all are caught up).
  absl::Duration max_lag;
};

// One open subscriber as operators see it (Hub::Subscribers).
struct SubscriberInfo {
  std::string peer;
  // "" = every namespace; services: 0 = every service.
  std::string namespace_;
  size_t services = 0;
  // "slices", "endpoints" or "marks" (another front-end's stream, e.g. xDS).
  std::string view;
  // Age of its oldest unsent change (0 when caught up; marks-only: always 0).
  absl::Duration lag;
  int64_t events_sent = 0;
  int64_t coalesced = 0;
  int64_t resets = 0;
};

class Hub : public store::CommitListener {
 public:
  struct Options {
    // Not owned. Null: RealClock().
    Clock* clock = nullptr;
    // How often an idle subscriber that asked for bookmarks gets one.
    absl::Duration bookmark_interval = absl::Seconds(10);
    // A subscriber whose oldest unsent change is older than this is RESET (its pinned state
    // freed). InfiniteDuration(): never.
    absl::Duration max_lag = absl::Seconds(60);
    size_t max_message_bytes = 1 << 20;
    // How often the dispatcher thread runs TickOnce.
    absl::Duration tick = absl::Seconds(1);
    // A commit made in an InlineDispatch scope less than this after the previous commit (by the
    // clock) is dispatched by the dispatcher thread, not inline. One batch's path is ~0.1–0.3 ms
    // on the memory store, so commits this close mean a writer busy most of the time: one stream
    // then commits 1.05–1.14x as fast with the fan-out handed off (BENCHMARKS.md, "The memory
    // store's peak"). Sparser commits stay inline, where the hand-off would cost a wake-up and
    // CPU per change. Zero: always inline.
    absl::Duration inline_min_gap = absl::Microseconds(500);
    // Merged endpoint views shared by ENDPOINTS-view subscribers (and QueryEndpoints). Not owned;
    // must outlive the hub. Null: each subscriber merges on its own.
    query::MergedViews* merged_views = nullptr;
  };

  // `store` must outlive the hub. Does no work.
  Hub(store::Store* store, Options options);
  ~Hub() override;
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Registers with the store and starts the dispatcher thread.
  void Start() ABSL_LOCKS_EXCLUDED(mu_, pending_mu_);
  // Stops the dispatcher, unregisters from the store and detaches every sink. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_, pending_mu_);

  // A new subscriber: registered for every later commit, with its initial snapshot (or resumed
  // deltas, or RESET + snapshot) ready, and woken once — for a resume of a started hub, on the
  // resume thread once the deltas are ready (Next() returns nothing until then). `sink` must stay
  // valid until Unsubscribe(sub) returns.
  std::shared_ptr<Subscriber> Subscribe(Selection selection, int64_t resume_revision, Sink* sink)
      ABSL_LOCKS_EXCLUDED(mu_);
  // After this returns the subscriber's sink is never called again.
  void Unsubscribe(const std::shared_ptr<Subscriber>& subscriber) ABSL_LOCKS_EXCLUDED(mu_);

  // store::CommitListener: O(services in the commit), never blocks on subscribers.
  void OnCommit(const store::CommitPtr& commit) override ABSL_LOCKS_EXCLUDED(pending_mu_);

  // Dispatches everything committed so far. Returns false when there was nothing to do.
  bool DispatchOnce() ABSL_LOCKS_EXCLUDED(dispatch_mu_, mu_, pending_mu_);

  // While one is alive on a thread, commits that thread makes are dispatched by it when the
  // scope ends (after the write's ack callback, for a store that publishes on the writer's
  // thread), not by the dispatcher thread. Commits published on other threads (a group-commit
  // thread, a replica's follower) are unaffected. A null hub makes it a no-op. Nests.
  class InlineDispatch {
   public:
    explicit InlineDispatch(Hub* hub);
    ~InlineDispatch();
    InlineDispatch(const InlineDispatch&) = delete;
    InlineDispatch& operator=(const InlineDispatch&) = delete;

   private:
    Hub* const previous_hub_;
    const bool previous_claimed_;
  };
  // Bookmarks and lag resets as of the clock's now.
  void TickOnce() ABSL_LOCKS_EXCLUDED(mu_);

  int64_t dispatched_revision() const { return dispatched_.load(std::memory_order_acquire); }
  HubStats stats() const ABSL_LOCKS_EXCLUDED(mu_);
  // Every open subscriber, at most `limit` of them (the most lagging first), and how many are
  // open in all. O(subscribers log limit).
  std::pair<std::vector<SubscriberInfo>, size_t> Subscribers(size_t limit) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Mark {
    std::string ns;
    std::string name;
    ServiceVersion version;
  };
  using SubscriberList = std::vector<Subscriber*>;

  void Run();
  // DispatchOnce with dispatch_mu_ held: takes the pending marks and hands them out, so rounds
  // are handed out in revision order whichever thread runs them.
  bool DispatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(dispatch_mu_)
      ABSL_LOCKS_EXCLUDED(mu_, pending_mu_);
  // The end of an InlineDispatch scope whose thread claimed a dispatch: dispatches unless another
  // thread is dispatching, then drops the claim (the dispatcher thread takes what is left).
  void DispatchClaimed() ABSL_LOCKS_EXCLUDED(dispatch_mu_, mu_, pending_mu_);
  // The resume thread: starts queued resuming subscribers, oldest first.
  void RunResumes() ABSL_LOCKS_EXCLUDED(resume_mu_);
  void Index(Subscriber* s, bool add) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Collect(const Mark& mark, std::vector<Subscriber*>* out) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  store::Store* const store_;
  const Options options_;
  Clock* const clock_;

  std::atomic<int64_t> dispatched_{0};
  std::atomic<int64_t> lag_resets_{0};

  // Serializes dispatch rounds (the dispatcher thread, inline dispatches, DispatchOnce).
  absl::Mutex dispatch_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex pending_mu_;
  absl::flat_hash_map<std::string, Mark> pending_ ABSL_GUARDED_BY(pending_mu_);
  int64_t pending_revision_ ABSL_GUARDED_BY(pending_mu_) = 0;
  // Writers that committed in an InlineDispatch scope and have not dispatched yet: while there
  // is one, the dispatcher thread leaves the pending marks to them.
  int claims_ ABSL_GUARDED_BY(pending_mu_) = 0;
  // When the previous commit reached OnCommit (options_.inline_min_gap).
  absl::Time last_commit_ ABSL_GUARDED_BY(pending_mu_) = absl::InfinitePast();
  bool stopping_ ABSL_GUARDED_BY(pending_mu_) = false;

  mutable absl::Mutex mu_ ABSL_ACQUIRED_BEFORE(pending_mu_);
  absl::flat_hash_map<Subscriber*, std::shared_ptr<Subscriber>> subscribers_ ABSL_GUARDED_BY(mu_);
  // Interest: (namespace, name); name in any namespace; every service of a namespace; everything.
  absl::flat_hash_map<std::string, SubscriberList> by_key_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, SubscriberList> by_name_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, SubscriberList> by_namespace_ ABSL_GUARDED_BY(mu_);
  SubscriberList all_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  // Totals of subscribers already gone.
  int64_t closed_events_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t closed_coalesced_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t closed_resets_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread thread_;

  // Resumes waiting for the resume thread (a subscriber gone meanwhile is skipped).
  absl::Mutex resume_mu_;
  std::vector<std::pair<std::weak_ptr<Subscriber>, int64_t>> resumes_ ABSL_GUARDED_BY(resume_mu_);
  bool resume_running_ ABSL_GUARDED_BY(resume_mu_) = false;
  std::thread resume_thread_;
};

}  // namespace slicekeeper::watch

#endif  // SLICEKEEPER_SERVER_WATCH_HUB_H_
