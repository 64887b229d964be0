#include "server/api/watch_reactor.h"

#include <grpcpp/support/slice.h>

#include <optional>
#include <string>
#include <utility>

#include "absl/time/clock.h"

namespace slicekeeper::api {
namespace {

// A ByteBuffer that owns `bytes` without copying them.
grpc::ByteBuffer ToByteBuffer(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  grpc::Slice slice(
      owned->data(), owned->size(), [](void* p) { delete static_cast<std::string*>(p); }, owned);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

WatchReactor::WatchReactor(watch::Hub* hub, metrics::Histogram* lag, DoneFn on_done)
    : hub_(hub), lag_(lag), on_done_(std::move(on_done)) {}

void WatchReactor::Start(watch::Selection selection, int64_t resume_revision) {
  // Subscribe without mu_: it wakes this sink once, and Wake takes mu_.
  std::shared_ptr<watch::Subscriber> subscriber =
      hub_->Subscribe(std::move(selection), resume_revision, this);
  absl::MutexLock l(&mu_);
  subscriber_ = std::move(subscriber);
  MaybeWriteLocked();
}

void WatchReactor::BeginShutdown() {
  absl::MutexLock l(&mu_);
  if (!ending_) {
    ending_ = true;
    status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down");
  }
  MaybeFinishLocked();
}

void WatchReactor::Wake() {
  absl::MutexLock l(&mu_);
  MaybeWriteLocked();
}

void WatchReactor::OnWriteDone(bool ok) {
  absl::MutexLock l(&mu_);
  writing_ = false;
  // Release the sent bytes now: an idle stream would otherwise hold its last message (for a new
  // watcher, its whole snapshot) until the next change.
  message_.Clear();
  if (!ok && !ending_) {
    ending_ = true;
    status_ = grpc::Status(grpc::StatusCode::CANCELLED, "watch event could not be written");
  }
  MaybeWriteLocked();
  MaybeFinishLocked();
}

void WatchReactor::OnCancel() {
  absl::MutexLock l(&mu_);
  if (!ending_) {
    ending_ = true;
    status_ = grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
  }
  MaybeFinishLocked();
}

void WatchReactor::OnDone() {
  std::shared_ptr<watch::Subscriber> subscriber;
  grpc::Status status;
  {
    absl::MutexLock l(&mu_);
    subscriber = std::move(subscriber_);
    status = status_;
  }
  // After Unsubscribe returns the hub never calls Wake again, so `this` may go.
  if (subscriber != nullptr) hub_->Unsubscribe(subscriber);
  on_done_(this, status);
  delete this;
}

void WatchReactor::MaybeWriteLocked() {
  if (writing_ || ending_ || finished_ || subscriber_ == nullptr) return;
  const absl::Time oldest = subscriber_->OldestUnsent();
  std::optional<std::string> next = subscriber_->NextSerialized();
  if (!next.has_value()) return;  // idle until the hub wakes us
  if (lag_ != nullptr && oldest != absl::InfiniteFuture()) {
    lag_->Observe(absl::ToDoubleSeconds(absl::Now() - oldest));
  }
  message_ = ToByteBuffer(std::move(*next));
  writing_ = true;
  StartWrite(&message_);
}

void WatchReactor::MaybeFinishLocked() {
  if (!ending_ || finished_ || writing_) return;
  finished_ = true;
  Finish(status_);
}

}  // namespace slicekeeper::api
