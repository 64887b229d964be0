// A test watcher: one EndpointDiscovery.Watch stream on gRPC's client callback API (so a test can
// hold a thousand of them on a few threads), rebuilding the client-side state from the events as
// kube-proxy would, and checking the protocol as it goes.
//
// Thread-safety: the reactions run on gRPC's threads; every accessor locks mu_.
#ifndef SLICEKEEPER_TESTS_API_WATCH_CLIENT_H_
#define SLICEKEEPER_TESTS_API_WATCH_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "slicekeeper/v1/discovery.grpc.pb.h"

namespace slicekeeper::testing {

class WatchClient final : public grpc::ClientReadReactor<v1::WatchResponse> {
 public:
  // Starts the stream. `stub` must outlive the call.
  WatchClient(v1::EndpointDiscovery::Stub* stub, const v1::WatchRequest& request) {
    stub->async()->Watch(&context_, &request, this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    {
      absl::MutexLock l(&mu_);
      for (v1::WatchEvent& e : *response_.mutable_events()) Apply(e);
      ++messages_;
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock l(&mu_);
    status_ = status;
    done_ = true;
  }

  void Cancel() { context_.TryCancel(); }

  // Waits until the stream reported that its state equals the store's at >= `revision`
  // (SYNCED or BOOKMARK). False on timeout or if the stream ended.
  bool AwaitRevision(int64_t revision, absl::Duration timeout) {
    absl::MutexLock l(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done_ || synced_revision_ >= revision;
    };
    mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
    return synced_revision_ >= revision;
  }
  // Waits until at least `n` events of `type` arrived.
  bool AwaitEvents(v1::WatchEvent::Type type, int n, absl::Duration timeout) {
    absl::MutexLock l(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ || Count(type) >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
    return Count(type) >= n;
  }
  // Waits for OnDone.
  grpc::Status AwaitDone(absl::Duration timeout) {
    absl::MutexLock l(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "stream did not end");
    }
    return status_;
  }

  // SLICES view: "namespace/name" -> slice. ENDPOINTS view: "namespace/service/address" -> endpoint
  // (in `endpoints()`).
  std::map<std::string, v1::EndpointSlice> slices() {
    absl::MutexLock l(&mu_);
    return slices_;
  }
  std::map<std::string, v1::ServiceEndpoint> endpoints() {
    absl::MutexLock l(&mu_);
    return endpoints_;
  }
  std::vector<v1::WatchEvent> events() {
    absl::MutexLock l(&mu_);
    return events_;
  }
  int64_t synced_revision() {
    absl::MutexLock l(&mu_);
    return synced_revision_;
  }
  int64_t messages() {
    absl::MutexLock l(&mu_);
    return messages_;
  }
  // Protocol violations seen: a decreasing revision, or a change event before the first SYNCED
  // that is not an ADDED.
  std::vector<std::string> violations() {
    absl::MutexLock l(&mu_);
    return violations_;
  }
  void set_keep_events(bool keep) {
    absl::MutexLock l(&mu_);
    keep_events_ = keep;
  }

 private:
  int Count(v1::WatchEvent::Type type) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return counts_.count(type) ? counts_.at(type) : 0;
  }

  // Consumes `e`'s slice or endpoint (moved into the state).
  void Apply(v1::WatchEvent& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (keep_events_) events_.push_back(e);
    ++counts_[e.type()];
    if (e.revision() < last_revision_) {
      violations_.push_back(absl::StrCat("revision ", e.revision(), " after ", last_revision_));
    }
    last_revision_ = std::max(last_revision_, e.revision());
    switch (e.type()) {
      case v1::WatchEvent::ADDED:
      case v1::WatchEvent::MODIFIED:
        if (e.has_slice()) {
          std::string key = Key(e.slice());
          slices_[key] = std::move(*e.mutable_slice());
        } else {
          std::string key = Key(e);
          endpoints_[key] = std::move(*e.mutable_endpoint());
        }
        break;
      case v1::WatchEvent::DELETED:
        if (e.has_slice()) {
          slices_.erase(Key(e.slice()));
        } else {
          endpoints_.erase(Key(e));
        }
        break;
      case v1::WatchEvent::RESET:
        slices_.clear();
        endpoints_.clear();
        break;
      case v1::WatchEvent::SYNCED:
      case v1::WatchEvent::BOOKMARK:
        synced_revision_ = std::max(synced_revision_, e.revision());
        break;
      default:
        violations_.push_back(absl::StrCat("unknown event type ", e.type()));
    }
  }
  static std::string Key(const v1::EndpointSlice& s) {
    return absl::StrCat(s.metadata().namespace_(), "/", s.metadata().name());
  }
  static std::string Key(const v1::WatchEvent& e) {
    return absl::StrCat(e.namespace_(), "/", e.service(), "/", e.endpoint().address());
  }

  grpc::ClientContext context_;
  v1::WatchResponse response_;

  absl::Mutex mu_;
  std::map<std::string, v1::EndpointSlice> slices_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::ServiceEndpoint> endpoints_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::WatchEvent> events_ ABSL_GUARDED_BY(mu_);
  std::map<int, int> counts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
  bool keep_events_ ABSL_GUARDED_BY(mu_) = true;
  int64_t last_revision_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t synced_revision_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t messages_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::testing

#endif  // SLICEKEEPER_TESTS_API_WATCH_CLIENT_H_
