// WatchReactor: one EndpointDiscovery.Watch stream, the gRPC end of a watch::Subscriber.
//
// The reactor is the subscriber's Sink. The hub wakes it when the subscriber goes from clean to
// dirty (or a bookmark or RESET is due); if no write is in flight, Wake pulls the next message
// from the subscriber (`Subscriber::NextSerialized`, an O(diff) build that never blocks) and
// starts writing it as raw bytes: the method is registered raw (WithRawCallbackMethod_Watch), so
// each slice version is encoded once and its bytes are shared by every subscriber. OnWriteDone
// pulls the next one, or lets the stream go idle. There is never more than one write in flight and
// never a queue of messages: what accumulates while a write is outstanding (or while the client
// does not read) is the subscriber's dirty set, folded per object. This is gRPC's own
// health-service Watch shape (docs/watch.md).
//
// The stream ends:
//   - CANCELLED when the client cancels, the peer is gone (keepalive), or a write fails;
//   - UNAVAILABLE "server shutting down" after BeginShutdown();
//   - never with OK: a watch has no natural end.
// Finish is called exactly once and never while a write is outstanding (deferred to OnWriteDone).
//
// Lifetime: gRPC owns the reactor. OnDone unsubscribes from the hub (after which the hub never
// calls Wake again), calls `on_done(this)`, and deletes the reactor. The owner may call
// BeginShutdown() until on_done returned, serializing the two with its own lock.
//
// Thread-safety: Wake runs on the hub's threads, the reactions on gRPC's; all reactor state is
// guarded by mu_. Lock order: the subscriber's sink lock -> mu_ -> the subscriber's send locks.
#ifndef SLICEKEEPER_SERVER_API_WATCH_REACTOR_H_
#define SLICEKEEPER_SERVER_API_WATCH_REACTOR_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/metrics/metrics.h"
#include "server/watch/hub.h"
#include "server/watch/sink.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::api {

class WatchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>, public watch::Sink {
 public:
  // Called once from OnDone with the final status, before the reactor deletes itself.
  using DoneFn = std::function<void(WatchReactor*, const grpc::Status&)>;

  // `hub` must outlive the reactor. `lag` (may be null) observes, per message, the seconds from
  // the oldest change it carries being marked to the write starting.
  WatchReactor(watch::Hub* hub, metrics::Histogram* lag, DoneFn on_done);

  // Subscribes with `selection` from `resume_revision` and starts the first write. Call once,
  // right after construction.
  void Start(watch::Selection selection, int64_t resume_revision) ABSL_LOCKS_EXCLUDED(mu_);

  // Finishes the stream with UNAVAILABLE once the write in flight (if any) completes. Idempotent.
  void BeginShutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // watch::Sink.
  void Wake() override ABSL_LOCKS_EXCLUDED(mu_);

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDone() override;

 private:
  // Starts writing the subscriber's next message unless a write is in flight or the stream is
  // over.
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finishes with status_ once nothing is in flight.
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  watch::Hub* const hub_;
  metrics::Histogram* const lag_;
  const DoneFn on_done_;

  absl::Mutex mu_;
  // Set by Start once Subscribe returned; the hub may Wake before that (ignored: Start writes).
  std::shared_ptr<watch::Subscriber> subscriber_ ABSL_GUARDED_BY(mu_);
  // The message being written (a serialized WatchResponse); stable until OnWriteDone.
  grpc::ByteBuffer message_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // The stream must end (cancel, failed write or shutdown) with status_.
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::api

#endif  // SLICEKEEPER_SERVER_API_WATCH_REACTOR_H_
