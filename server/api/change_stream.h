// ChangeStream: the reactor of one EndpointRegistry.StreamChanges call.
//
// Batches are read one at a time and applied in arrival order by `apply` (which never fails the
// stream: a bad batch becomes an ack with a non-zero code). Each batch's ack is queued and written
// in order, exactly one write in flight. Reading continues while acks are being written
// (pipelining) until `max_pending_acks` acks wait to be written; then reading pauses until the
// client drains them, so a client that never reads its acks costs bounded memory.
//
// The stream ends:
//   - OK, after the client half-closed and every ack was written;
//   - UNAVAILABLE "server shutting down", after BeginShutdown(): no new batch is read, the batch
//     being applied (if any) is acked, then the stream finishes;
//   - CANCELLED, when the client cancels or an ack cannot be written.
// Finish is called exactly once and never while a write is outstanding.
//
// Lifetime: gRPC owns the reactor; it deletes itself in OnDone after calling `on_done(this)`.
// The owner may call BeginShutdown() until `on_done` returned (the owner serializes the two with
// its own lock; see RegistryService).
//
// Thread-safety: reactions may run concurrently; all state is guarded by mu_. `apply` runs
// without mu_ held (on Options::executor when given) and never concurrently with itself for one
// stream.
#ifndef SLICEKEEPER_SERVER_API_CHANGE_STREAM_H_
#define SLICEKEEPER_SERVER_API_CHANGE_STREAM_H_

#include <deque>
#include <functional>

#include <grpcpp/support/server_callback.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "slicekeeper/v1/change.pb.h"

namespace slicekeeper::api {

class ChangeStream : public grpc::ServerBidiReactor<v1::ChangeBatch, v1::ChangeAck> {
 public:
  // Applies one batch (it may consume the batch's contents) and returns its ack (batch_id
  // echoed). Must not block for long.
  using ApplyFn = std::function<v1::ChangeAck(v1::ChangeBatch*)>;
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
  // Applies batch_ and queues its ack. REQUIRES: applying_.
  void ApplyAndAck() ABSL_LOCKS_EXCLUDED(mu_);
  // Finishes the stream when nothing more is to be done.
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  const ApplyFn apply_;
  const DoneFn on_done_;
  const Options options_;
  const absl::Time start_;

  // Written only by the read reaction; no read is in flight while it is used.
  v1::ChangeBatch batch_;

  absl::Mutex mu_;
  // Acks in order; front() is being written when writing_. A deque keeps front() stable while
  // acks are appended.
  std::deque<v1::ChangeAck> acks_ ABSL_GUARDED_BY(mu_);
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
