#include "server/xds/internal/ads_reactor.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/status_util.h"
#include "server/xds/internal/delta_session.h"
#include "server/xds/internal/sotw_session.h"

namespace slicekeeper::xds::internal {
namespace {

// The marks-only selection of one service key ("ns/name"), or of every service (""), limited
// to the namespaces the caller may read: a service elsewhere is marked as absent.
watch::Selection SelectionFor(
    const std::string& key,
    const std::shared_ptr<const absl::flat_hash_set<std::string>>& readable) {
  watch::Selection s;
  s.marks_only = true;
  s.allowed_namespaces = readable;
  if (key.empty()) return s;
  std::pair<std::string, std::string> parts = absl::StrSplit(key, absl::MaxSplits('/', 1));
  s.namespace_ = std::move(parts.first);
  s.services = {std::move(parts.second)};
  return s;
}

}  // namespace

template <typename SessionT>
AdsReactor<SessionT>::AdsReactor(StreamDeps deps, std::optional<ResourceType> fixed_type,
                                 Admitted admitted)
    : deps_(std::move(deps)),
      admitted_(std::move(admitted)),
      session_(deps_.cache, fixed_type, deps_.metrics) {}

template <typename SessionT>
void AdsReactor<SessionT>::Start() {
  if (deps_.metrics != nullptr) deps_.metrics->StreamOpened(SessionT::kDelta);
  this->StartRead(&request_);
}

template <typename SessionT>
void AdsReactor<SessionT>::BeginShutdown() {
  absl::MutexLock l(&mu_);
  EndLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down"));
}

template <typename SessionT>
void AdsReactor<SessionT>::Wake() {
  absl::MutexLock l(&mu_);
  MaybeWriteLocked();
}

template <typename SessionT>
void AdsReactor<SessionT>::OnReadDone(bool ok) {
  WatchSet want;
  {
    absl::MutexLock l(&mu_);
    if (!ok) {
      EndLocked(grpc::Status::OK);  // the client half-closed (or the call is over)
      return;
    }
    if (ending_) return;
    if (absl::Status s = session_.OnRequest(request_); !s.ok()) {
      spdlog::debug("xds request rejected node={} error=\"{}\"", session_.node_id(),
                    std::string(s.message()));
      EndLocked(ToGrpcStatus(s));
      return;
    }
    CountSubscribedLocked(session_.SubscribedTypes());
    want = session_.Wants();
    resubscribing_ = true;  // no response until every watched service is marked
  }
  Resubscribe(want);
  absl::MutexLock l(&mu_);
  resubscribing_ = false;
  MaybeWriteLocked();
  if (!ending_) this->StartRead(&request_);
}

template <typename SessionT>
void AdsReactor<SessionT>::Resubscribe(const WatchSet& want) {
  std::vector<std::shared_ptr<watch::Subscriber>> dropped;
  std::vector<std::string> added;
  {
    absl::MutexLock l(&mu_);
    auto wanted = [&](const std::string& key) {
      return want.all ? key.empty() : want.keys.contains(key);
    };
    for (auto it = subscribers_.begin(); it != subscribers_.end();) {
      if (wanted(it->first)) {
        ++it;
        continue;
      }
      dropped.push_back(std::move(it->second));
      subscribers_.erase(it++);
    }
    if (want.all && !subscribers_.contains("")) added.push_back("");
    if (!want.all) {
      for (const std::string& key : want.keys) {
        if (!subscribers_.contains(key)) added.push_back(key);
      }
    }
  }
  for (const auto& s : dropped) deps_.hub->Unsubscribe(s);
  for (const std::string& key : added) {
    std::shared_ptr<watch::Subscriber> s =
        deps_.hub->Subscribe(SelectionFor(key, admitted_.readable), 0, this);
    absl::MutexLock l(&mu_);
    subscribers_.emplace(key, std::move(s));
  }
}

template <typename SessionT>
void AdsReactor<SessionT>::MaybeWriteLocked() {
  if (writing_ || ending_ || finished_ || resubscribing_) return;
  for (auto& [key, subscriber] : subscribers_) {
    pending_oldest_ = std::min(pending_oldest_, subscriber->OldestUnsent());
    session_.Apply(subscriber->TakeMarks());
  }
  std::optional<typename SessionT::Response> next = session_.Next();
  if (!next.has_value()) {
    pending_oldest_ = absl::InfiniteFuture();  // everything marked so far is pushed
    return;
  }
  response_ = std::move(*next);
  write_oldest_ = pending_oldest_;
  writing_ = true;
  this->StartWrite(&response_);
}

template <typename SessionT>
void AdsReactor<SessionT>::OnWriteDone(bool ok) {
  absl::MutexLock l(&mu_);
  writing_ = false;
  // Not Clear(): that keeps every cleared message and string for reuse, so a stream would pin
  // its largest response for life (a LEDS stream's first one holds a resource per endpoint).
  typename SessionT::Response().Swap(&response_);
  if (!ok) {
    EndLocked(grpc::Status(grpc::StatusCode::CANCELLED, "xds response could not be written"));
    return;
  }
  if (deps_.metrics != nullptr && write_oldest_ != absl::InfiniteFuture()) {
    deps_.metrics->PushLatency(absl::Now() - write_oldest_);
  }
  MaybeWriteLocked();
  MaybeFinishLocked();
}

template <typename SessionT>
void AdsReactor<SessionT>::OnCancel() {
  absl::MutexLock l(&mu_);
  EndLocked(grpc::Status(grpc::StatusCode::CANCELLED, "xds stream cancelled"));
}

template <typename SessionT>
void AdsReactor<SessionT>::OnDone() {
  Subscribers subscribers;
  {
    absl::MutexLock l(&mu_);
    subscribers.swap(subscribers_);
    CountSubscribedLocked(0);
    spdlog::debug("xds stream closed node={} delta={} code={}", session_.node_id(),
                  SessionT::kDelta, static_cast<int>(status_.error_code()));
  }
  // After Unsubscribe returns the hub never calls Wake again, so `this` may go.
  for (auto& [key, s] : subscribers) deps_.hub->Unsubscribe(s);
  if (deps_.metrics != nullptr) deps_.metrics->StreamClosed(SessionT::kDelta);
  deps_.on_done(this);
  delete this;
}

template <typename SessionT>
void AdsReactor<SessionT>::EndLocked(grpc::Status status) {
  if (!ending_) {
    ending_ = true;
    status_ = std::move(status);
  }
  MaybeFinishLocked();
}

template <typename SessionT>
void AdsReactor<SessionT>::MaybeFinishLocked() {
  if (!ending_ || finished_ || writing_) return;
  finished_ = true;
  this->Finish(status_);
}

template <typename SessionT>
void AdsReactor<SessionT>::CountSubscribedLocked(uint32_t now) {
  if (deps_.metrics != nullptr) {
    for (int i = 0; i < static_cast<int>(ResourceType::kCount); ++i) {
      const bool was = (subscribed_types_ >> i) & 1, is = (now >> i) & 1;
      if (was != is) deps_.metrics->Subscribed(static_cast<ResourceType>(i), is ? 1 : -1);
    }
  }
  subscribed_types_ = now;
}

template class AdsReactor<SotwSession>;
template class AdsReactor<DeltaSession>;

}  // namespace slicekeeper::xds::internal
