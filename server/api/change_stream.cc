#include "server/api/change_stream.h"

#include <utility>

namespace slicekeeper::api {

namespace {

// A 100-change batch takes ~60 KB parsed: two or three blocks.
google::protobuf::ArenaOptions BatchArenaOptions() {
  google::protobuf::ArenaOptions o;
  o.start_block_size = 8 << 10;
  o.max_block_size = 64 << 10;
  return o;
}

}  // namespace

ChangeStream::ChangeStream(ApplyFn apply, DoneFn on_done, Options options)
    : apply_(std::move(apply)),
      on_done_(std::move(on_done)),
      options_(options),
      start_(absl::Now()),
      arena_(BatchArenaOptions()) {}

void ChangeStream::Start() {
  absl::MutexLock l(&mu_);
  MaybeReadLocked();
}

void ChangeStream::BeginShutdown() {
  absl::MutexLock l(&mu_);
  shutting_down_ = true;
  MaybeFinishLocked();
}

void ChangeStream::OnReadDone(bool ok) {
  Slot* slot = nullptr;
  {
    absl::MutexLock l(&mu_);
    reading_ = false;
    if (!ok) reads_done_ = true;
    // A batch that arrives after the stream finished was never acked: dropping it loses nothing
    // the client was told about.
    if (!ok || finished_ || broken_) {
      MaybeFinishLocked();
      return;
    }
    applying_ = true;
    acks_.emplace_back();
    slot = &acks_.back();
    ++awaiting_;
  }
  // Applied without mu_ so acks keep flowing while the store works; reads are serialized (the
  // next read starts after the apply), so batches are applied in arrival order.
  if (options_.executor) {
    options_.executor([this, slot] { Apply(slot); });
  } else {
    Apply(slot);
  }
}

void ChangeStream::Apply(Slot* slot) {
  apply_(batch_, [this, slot](v1::ChangeAck ack) { OnAck(slot, std::move(ack)); });
  absl::MutexLock l(&mu_);
  applying_ = false;
  MaybeReadLocked();
  MaybeFinishLocked();
}

void ChangeStream::OnAck(Slot* slot, v1::ChangeAck ack) {
  absl::MutexLock l(&mu_);
  slot->ack = std::move(ack);
  slot->ready = true;
  --awaiting_;
  MaybeWriteLocked();
  MaybeFinishLocked();
}

void ChangeStream::OnWriteDone(bool ok) {
  absl::MutexLock l(&mu_);
  writing_ = false;
  acks_.pop_front();
  if (!ok && !broken_) {
    broken_ = true;
    status_ = grpc::Status(grpc::StatusCode::CANCELLED, "ack could not be written");
  }
  MaybeWriteLocked();
  MaybeReadLocked();
  MaybeFinishLocked();
}

void ChangeStream::OnCancel() {
  absl::MutexLock l(&mu_);
  if (!broken_) {
    broken_ = true;
    status_ = grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");
  }
  // The slots stay until their acks arrived (their callbacks point at them); none is written.
  MaybeFinishLocked();
}

void ChangeStream::OnDone() {
  grpc::Status status;
  {
    absl::MutexLock l(&mu_);
    status = status_;
  }
  on_done_(this, status, absl::Now() - start_);
  delete this;
}

void ChangeStream::MaybeReadLocked() {
  if (reading_ || applying_ || reads_done_ || shutting_down_ || broken_ || finished_) return;
  if (static_cast<int>(acks_.size()) >= options_.max_pending_acks) return;  // paused
  reading_ = true;
  arena_.Reset();
  batch_ = google::protobuf::Arena::CreateMessage<v1::ChangeBatch>(&arena_);
  StartRead(batch_);
}

void ChangeStream::MaybeWriteLocked() {
  if (writing_ || acks_.empty() || !acks_.front().ready || finished_ || broken_) return;
  writing_ = true;
  StartWrite(&acks_.front().ack);
}

void ChangeStream::MaybeFinishLocked() {
  // Never finish with a write outstanding, nor before the batch being applied and every batch
  // applied has its ack (a pending ack's callback refers to this stream).
  if (finished_ || writing_ || applying_ || awaiting_ > 0) return;
  if (!broken_) {
    if (!acks_.empty()) return;
    if (reads_done_) {
      status_ = grpc::Status::OK;
    } else if (shutting_down_) {
      status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down");
    } else {
      return;
    }
  }
  finished_ = true;
  Finish(status_);
}

}  // namespace slicekeeper::api
