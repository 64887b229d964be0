// ChangeStream: the reactor of one EndpointRegistry.StreamChanges call.
//
// Batches are read one at a time and applied in arrival order by `apply` (which never fails the
// stream: a bad batch becomes an ack with a non-zero code). `apply` may return before its ack is
// known — a durable store acknowledges a batch once a later group sync made it durable — so each
// batch gets a slot in the ack queue when it is read, filled whenever its ack arrives; acks are
// written in batch order, exactly one write in flight. Reading continues while earlier batches
// wait for their acks or for their acks to be written (pipelining) until `max_pending_acks` slots
// are taken; then reading pauses until the client drains them, so a client that never reads its
// acks costs bounded memory, and a stream has at most that many batches in flight.
//
// The stream ends:
//   - OK, after the client half-closed and every ack was written;
//   - UNAVAILABLE "server shutting down", after BeginShutdown(): no new batch is read, the batch
//     being applied (if any) is acked, then the stream finishes;
//   - CANCELLED, when the client cancels or an ack cannot be written.
// Finish is called exactly once, never while a write is outstanding nor while an ack is still to
// come from `apply` (its callback refers to the stream).
//
// Lifetime: gRPC owns the reactor; it deletes itself in OnDone after calling `on_done(this)`.
// The owner may call BeginShutdown() until `on_done` returned (the owner serializes the two with
// its own lock; see RegistryService).
//
// Thread-safety: reactions may run concurrently; all state is guarded by mu_. `apply` runs
// without mu_ held (on Options::executor when given) and never concurrently with itself for one
// stream; its ack callback may run on any thread, inline or later.
#ifndef SLICEKEEPER_SERVER_API_CHANGE_STREAM_H_
#define SLICEKEEPER_SERVER_API_CHANGE_STREAM_H_

#include <deque>
#include <functional>

#include <grpcpp/support/server_callback.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "slicekeeper/v1/change.pb.h"

namespace slicekeeper::api {

class ChangeStream : public grpc::ServerBidiReactor<v1::ChangeBatch, v1::ChangeAck> {
 public:
  // Delivers a batch's ack (batch_id echoed). Call exactly once, from any thread.
  using AckFn = std::function<void(v1::ChangeAck)>;
  // Applies one batch (it may consume the batch's contents) and calls `ack` with its ack, before
  // returning or later. Must not block for long.
  using ApplyFn = std::function<void(v1::ChangeBatch*, AckFn ack)>;
  // Called once from OnDone with the final status, before the reactor deletes itself.
  using DoneFn = std::function<void(ChangeStream*, const grpc::Status&, absl::Duration)>;

  struct Options {
    // Acks queued (written or waiting) before reading pauses. >= 1.
    int max_pending_acks = 64;
    // Runs `apply` off the reaction's thread (for writes that block, e.g. on an fsync); null:
    // inline. Must outlive the stream.
    std::function<void(std::function<void()>)> executor;
  };

  ChangeStream(ApplyFn apply, DoneFn on_done, Options options);

  // Starts the first read. Call once, right after construction.
  void Start() ABSL_LOCKS_EXCLUDED(mu_);

  // Stops reading; the stream finishes with UNAVAILABLE once the acks of every batch already
  // read are written. Idempotent. REQUIRES: on_done has not run (see Lifetime above).
  void BeginShutdown() ABSL_LOCKS_EXCLUDED(mu_);

  void OnReadDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDone() override;

 private:
  // Starts the next read unless reading is paused or over.
  void MaybeReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts writing the front ack unless a write is in flight.
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  struct Slot {
    bool ready = false;
    v1::ChangeAck ack;
  };
  // Applies batch_, whose ack goes to `slot`. REQUIRES: applying_.
  void Apply(Slot* slot) ABSL_LOCKS_EXCLUDED(mu_);
  // The ack of `slot` arrived.
  void OnAck(Slot* slot, v1::ChangeAck ack) ABSL_LOCKS_EXCLUDED(mu_);
  // Finishes the stream when nothing more is to be done.
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  const ApplyFn apply_;
  const DoneFn on_done_;
  const Options options_;
  const absl::Time start_;

  // Each batch is parsed into a fresh message on arena_, reset before every read: a batch of
  // 100 changes is ~1 000 small objects (changes, endpoints, ports, strings), which the arena
  // bump-allocates in a few blocks instead of the allocator making and freeing each one (a
  // reused heap message would not do: proto3's Clear deletes sub-messages). Written only by the
  // read reaction; no read is in flight while batch_ is used, and `apply` keeps nothing of it.
  google::protobuf::Arena arena_;
  v1::ChangeBatch* batch_ = nullptr;

  absl::Mutex mu_;
  // One slot per batch read and not yet acked to the client, in order; front() is being written
  // when writing_. A deque keeps slots in place while others are appended or popped.
  std::deque<Slot> acks_ ABSL_GUARDED_BY(mu_);
  // Slots whose ack has not arrived yet.
  int awaiting_ ABSL_GUARDED_BY(mu_) = 0;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool applying_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::api

#endif  // SLICEKEEPER_SERVER_API_CHANGE_STREAM_H_
