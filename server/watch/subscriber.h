// Subscriber: one watch stream's state in the hub, with no event queue.
//
// A subscriber keeps, per watched service, the snapshot it last sent (`last sent`) and, for the
// services that changed since, the newest snapshot the hub told it about (the dirty set). When its
// stream can take the next write, the sender calls `Next()`, which diffs last-sent against dirty
// for every dirty service, orders the resulting events by revision and returns them in messages of
// about `max_bytes`. Several commits between two sends fold into one event per object with its
// latest state. Memory is bounded by the number of watched objects, never by the write rate: both
// maps hold pointers to immutable snapshots shared with the store, and a changed slice is diffed by
// pointer.
//
// A *marks-only* subscriber (Selection::marks_only) is for front-ends that build their own messages
// from whole service versions (xDS): it keeps no last-sent state and diffs nothing. Start marks
// every selected service with its current version (a named service that does not exist is marked
// with a null snapshot), later commits mark what they change, and the sender takes the marks with
// `TakeMarks` instead of `Next`. Coalescing and "writers never wait" are the same as for a watch.
//
// Protocol (docs/watch.md): a snapshot of ADDED events, then SYNCED with its revision; later,
// changes as they commit; BOOKMARK when asked and idle; RESET, a fresh snapshot and SYNCED after a
// resume from a revision older than the history, or when the hub decides the subscriber lags too
// far. Revisions never decrease within a stream, and at every SYNCED or BOOKMARK revision R the
// events sent so far reproduce the store's state at R for the watched services.
//
// Thread-safety: `Next` is for one sender at a time (the stream's write path); the dispatcher-side
// methods (`MarkDirty`, `RequestBookmark`, `RequestReset`, `Detach`, `Wake`) may run concurrently
// with it and with each other. Lock order: sink_mu_ -> (the sink's own lock) -> send_mu_ -> mu_.
#ifndef SLICEKEEPER_SERVER_WATCH_SUBSCRIBER_H_
#define SLICEKEEPER_SERVER_WATCH_SUBSCRIBER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/namespaced_name.h"
#include "server/query/merged_views.h"
#include "server/store/store.h"
#include "server/watch/sink.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::watch {

// What a stream watches.
struct Selection {
  // "" = every namespace.
  std::string namespace_;
  // Service names; empty = every service, including services created later.
  std::vector<std::string> services;
  v1::WatchView view = v1::SLICES;
  // ENDPOINTS view: only endpoints in this zone / on this node ("" = any).
  std::string zone;
  std::string node;
  // Send BOOKMARK events when idle.
  bool bookmarks = false;
  // Only these namespaces (a reader limited by the authorization policy); null = no limit.
  // Applies on top of namespace_.
  std::shared_ptr<const absl::flat_hash_set<std::string>> allowed_namespaces;
  // Marks only: TakeMarks instead of Next (see the banner); view, zone, node and bookmarks are
  // ignored, and the hub never RESETs the subscriber (what it pins is bounded by its services).
  bool marks_only = false;
  // Who watches ("ip:port", or a front-end's own name), for operators (Hub::Subscribers); not
  // used for matching.
  std::string peer;

  bool Matches(absl::string_view ns, absl::string_view name) const;
};

// A service snapshot and the revision it is known to be current at. A null snapshot means the
// service does not exist at `revision`.
struct ServiceVersion {
  store::ServiceSnapshotPtr snapshot;
  int64_t revision = 0;
};

// One event of the SLICES view as NextEvents returns it, for senders that encode events
// themselves (the Kubernetes watch writes JSON).
struct SliceEvent {
  v1::WatchEvent::Type type = v1::WatchEvent::TYPE_UNSPECIFIED;
  // As WatchEvent.revision.
  int64_t revision = 0;
  // ADDED / MODIFIED: the slice; DELETED: its last state. Null for SYNCED, BOOKMARK and RESET.
  SlicePtr slice;
};

struct SubscriberStats {
  std::atomic<int64_t> events_sent{0};
  std::atomic<int64_t> coalesced{0};
  std::atomic<int64_t> resets{0};
};

class Subscriber {
 public:
  struct Options {
    // Messages are cut after about this many bytes of events.
    size_t max_message_bytes = 1 << 20;
    // Not owned. Null: RealClock().
    Clock* clock = nullptr;
    // ENDPOINTS view: where merged views come from (shared between subscribers). Not owned.
    // Null: merged by the subscriber.
    query::MergedViews* merged_views = nullptr;
  };

  // Use Hub::Subscribe. `store` and `dispatched` (the hub's dispatched revision) must outlive the
  // subscriber.
  Subscriber(Selection selection, store::Store* store, const std::atomic<int64_t>* dispatched,
             Sink* sink, Options options);

  const Selection& selection() const { return selection_; }

  // Sets the initial state: a fresh snapshot (resume_revision == 0), or the deltas since
  // `resume_revision`, or RESET + snapshot when that revision is no longer in the history.
  // Called once by the hub before the subscriber is woken for the first time.
  void Start(int64_t resume_revision) ABSL_LOCKS_EXCLUDED(send_mu_, mu_);

  // The next message to write, serialized (a WatchResponse's bytes), or nullopt when there is
  // nothing to send. Never blocks on I/O. Slices are copied as their cached bytes
  // (Slice::SerializedProto), so a fan-out encodes each slice version once.
  std::optional<std::string> NextSerialized() ABSL_LOCKS_EXCLUDED(send_mu_, mu_);
  // NextSerialized, parsed (tests and typed callers).
  std::optional<v1::WatchResponse> Next() ABSL_LOCKS_EXCLUDED(send_mu_, mu_);
  // The next events, as NextSerialized would send them but not encoded, at most `max_events`
  // (>= 1) at a time; empty when there is nothing to send. REQUIRES: the SLICES view.
  std::vector<SliceEvent> NextEvents(size_t max_events) ABSL_LOCKS_EXCLUDED(send_mu_, mu_);

  // Marks-only subscribers: the newest version of every service marked since the last call
  // (keyed by NamespacedName), and clears them. A version may be older than one taken before (a
  // commit dispatched after the snapshot it was already in): keep the newest. Never blocks on
  // I/O. REQUIRES: selection().marks_only.
  absl::flat_hash_map<std::string, ServiceVersion> TakeMarks() ABSL_LOCKS_EXCLUDED(mu_);

  // --- Dispatcher side. ---

  // Records that each `key`'s service is now `version` (ignored if not newer than what is known),
  // and that every commit up to `round_revision` has been dispatched to this subscriber.
  // Returns true when the subscriber went from clean to dirty (the caller should Wake it).
  // All marks of one dispatch round are given in one call, so that a sender never takes half a
  // round.
  bool MarkDirty(std::vector<std::pair<std::string, ServiceVersion>> marks, int64_t round_revision)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A BOOKMARK at the next idle point. Returns true if the caller should Wake.
  bool RequestBookmark() ABSL_LOCKS_EXCLUDED(mu_);
  // Drops the last-sent state and everything unsent at once (freeing the old snapshots it pinned)
  // and makes the next message a RESET, followed by a fresh snapshot: for a subscriber that lags
  // too far.
  void RequestReset() ABSL_LOCKS_EXCLUDED(send_mu_, mu_);
  // When the oldest change not yet sent was marked; InfiniteFuture() when clean.
  absl::Time OldestUnsent() const ABSL_LOCKS_EXCLUDED(mu_);
  // When Next() last returned a message.
  absl::Time LastSend() const ABSL_LOCKS_EXCLUDED(mu_);

  // Calls the sink's Wake unless detached.
  void Wake() ABSL_LOCKS_EXCLUDED(sink_mu_);
  // After this returns the sink is never called again.
  void Detach() ABSL_LOCKS_EXCLUDED(sink_mu_);

  const SubscriberStats& stats() const { return stats_; }

 private:
  // An event waiting to be materialized: protos are built only when a message is cut, so a large
  // snapshot costs pointers until it is actually written.
  struct PendingEvent {
    int64_t revision = 0;
    v1::WatchEvent::Type type = v1::WatchEvent::TYPE_UNSPECIFIED;
    // SLICES view.
    SlicePtr slice;
    // ENDPOINTS view: the endpoint is (*view)[index], shared with every subscriber of the service
    // with its encoded bytes; a DELETED event sends only its address and address type.
    std::shared_ptr<const query::MergedView> view;
    int32_t index = -1;
  };
  using Catalog = std::vector<std::pair<std::string, ServiceVersion>>;
  // Where a batch of events goes: a WatchResponse's bytes, or SliceEvents (subscriber.cc).
  class Out;
  class WireOut;
  class EventsOut;
  // How a diff's events are dated: as a snapshot's (all at the snapshot's revision), or each at
  // its object's revision, with the delete revisions a resume read from the history.
  struct Dating {
    bool snapshot = false;
    const store::Rewound::Service* rewound = nullptr;
  };

  Catalog TakeCatalog(int64_t* revision);
  void BeginSnapshot(bool reset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(send_mu_);
  void BeginResume(int64_t resume_revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(send_mu_);
  void BeginMarks() ABSL_EXCLUSIVE_LOCKS_REQUIRED(send_mu_);
  bool TakeDirty() ABSL_EXCLUSIVE_LOCKS_REQUIRED(send_mu_);
  void DiffService(const std::string& key, const ServiceVersion& before,
                   const ServiceVersion& after, const Dating& dating)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(send_mu_);
  void DiffSlices(const ServiceVersion& before, const ServiceVersion& after, const Dating& dating)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(send_mu_);
  void DiffEndpoints(const ServiceVersion& before, const ServiceVersion& after,
                     const Dating& dating) ABSL_EXCLUSIVE_LOCKS_REQUIRED(send_mu_);
  // The revision an event carries for an object state of `object_revision` (subscriber.cc).
  static int64_t EventRevision(int64_t object_revision, const ServiceVersion& before,
                               const ServiceVersion& after, const Dating& dating);
  // The revision of the delete of `slice` ("": of the service's endpoints).
  static int64_t DeleteRevision(absl::string_view slice, const ServiceVersion& after,
                                const Dating& dating);
  // The merged view of `snapshot` (empty for null), and the diff of two: shared
  // (Options::merged_views) or computed here.
  query::MergedViews::Ptr MergedView(const store::ServiceSnapshotPtr& snapshot) const;
  std::shared_ptr<const query::ViewDiff> ViewDiff(const store::ServiceSnapshotPtr& before,
                                                  const store::ServiceSnapshotPtr& after) const;
  // Puts the next batch of events into `out`; false when there was nothing to send.
  bool Pull(Out& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(send_mu_);
  bool Emit(Out& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(send_mu_);
  void Control(v1::WatchEvent::Type type, int64_t revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(send_mu_);

  // Immutable after construction.
  const Selection selection_;
  store::Store* const store_;
  const std::atomic<int64_t>* const dispatched_;
  const Options options_;
  Clock* const clock_;

  absl::Mutex sink_mu_;
  Sink* sink_ ABSL_GUARDED_BY(sink_mu_);

  // Sender state: only Next()/Start() touch it.
  absl::Mutex send_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::flat_hash_map<std::string, ServiceVersion> last_sent_ ABSL_GUARDED_BY(send_mu_);
  // Revision below which a service absent from last_sent_ is known (the last snapshot's).
  int64_t base_revision_ ABSL_GUARDED_BY(send_mu_) = 0;
  std::deque<PendingEvent> pending_ ABSL_GUARDED_BY(send_mu_);
  // The revision of the SYNCED to send once pending_ drains, or kNoSync. (An empty store's
  // snapshot is SYNCED at revision 0.)
  static constexpr int64_t kNoSync = -1;
  int64_t sync_after_pending_ ABSL_GUARDED_BY(send_mu_) = kNoSync;
  int64_t last_revision_sent_ ABSL_GUARDED_BY(send_mu_) = 0;
  bool started_ ABSL_GUARDED_BY(send_mu_) = false;

  // Dispatcher-shared state.
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, ServiceVersion> dirty_ ABSL_GUARDED_BY(mu_);
  int64_t marked_revision_ ABSL_GUARDED_BY(mu_) = 0;
  // The revision of the last snapshot (or resume point): marks at or below it are already in it.
  int64_t floor_revision_ ABSL_GUARDED_BY(mu_) = 0;
  bool bookmark_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool reset_requested_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time oldest_unsent_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time last_send_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  SubscriberStats stats_;
};

}  // namespace slicekeeper::watch

#endif  // SLICEKEEPER_SERVER_WATCH_SUBSCRIBER_H_
