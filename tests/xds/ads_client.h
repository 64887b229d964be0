// AdsStream: one ADS stream (state of the world or delta) on gRPC's callback client API, built
// from the same protos as the server, for the protocol tests and bench/xds_load.
//
// Requests are queued and written one at a time. Responses are read continuously (or, after
// Pause(), not at all: a stalled client whose unread bytes back up into HTTP/2 flow control)
// and counted; the last one is kept for AwaitLast, `keep` keeps them all for Await / Responses,
// and `on_response` sees each one on gRPC's thread as it arrives.
//
// Thread-safety: every method may be called from any thread. The destructor cancels the stream
// and waits for gRPC to finish with it.
//
// Example:
//   AdsStream<SotwRequest, SotwResponse> s(stub.get());
//   s.Send(request);
//   ASSERT_TRUE(s.Await([](const auto& rs) { return rs.size() == 1; }, absl::Seconds(10)));
#ifndef SLICEKEEPER_TESTS_XDS_ADS_CLIENT_H_
#define SLICEKEEPER_TESTS_XDS_ADS_CLIENT_H_

#include <grpcpp/client_context.h>
#include <grpcpp/support/client_callback.h>

#include <deque>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"

namespace slicekeeper::xds::testing {

using SotwRequest = envoy::service::discovery::v3::DiscoveryRequest;
using SotwResponse = envoy::service::discovery::v3::DiscoveryResponse;
using DeltaRequest = envoy::service::discovery::v3::DeltaDiscoveryRequest;
using DeltaResponse = envoy::service::discovery::v3::DeltaDiscoveryResponse;
using AdsStub = envoy::service::discovery::v3::AggregatedDiscoveryService::Stub;

template <typename Req, typename Resp>
class AdsStream final : public grpc::ClientBidiReactor<Req, Resp> {
 public:
  using OnResponse = std::function<void(const Resp&)>;

  // Opens the stream on `stub` (which must outlive it).
  explicit AdsStream(AdsStub* stub, bool keep = true, OnResponse on_response = nullptr)
      : keep_(keep), on_response_(std::move(on_response)) {
    if constexpr (std::is_same_v<Req, DeltaRequest>) {
      stub->async()->DeltaAggregatedResources(&context_, this);
    } else {
      stub->async()->StreamAggregatedResources(&context_, this);
    }
    reading_ = true;
    this->StartRead(&response_);
    this->StartCall();
  }
  ~AdsStream() override {
    context_.TryCancel();
    finished_.WaitForNotification();  // OnDone is gRPC's last use of the reactor
  }
  AdsStream(const AdsStream&) = delete;
  AdsStream& operator=(const AdsStream&) = delete;

  void Send(Req request) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock l(&mu_);
      if (done_) return;
      queue_.push_back(std::move(request));
      if (writing_) return;
      writing_ = true;
      request_ = std::move(queue_.front());
      queue_.pop_front();
    }
    this->StartWrite(&request_);
  }

  // Stops reading after the read in flight; Resume reads again (and everything backed up).
  void Pause() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    paused_ = true;
  }
  void Resume() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock l(&mu_);
      paused_ = false;
      if (reading_ || done_) return;
      reading_ = true;
    }
    this->StartRead(&response_);
  }

  // Waits until `pred(responses kept so far)` holds; false after `timeout` or once the stream
  // ended without it holding.
  bool Await(const std::function<bool(const std::vector<Resp>&)>& pred, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ || pred(responses_); };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    return pred(responses_);
  }
  // Waits until the stream ended; its status then.
  bool AwaitDone(absl::Duration timeout, grpc::Status* status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
    *status = status_;
    return done_;
  }
  // Waits until the last response received (kept or not) satisfies `pred`.
  bool AwaitLast(const std::function<bool(const Resp&)>& pred, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done_ || (received_ > 0 && pred(last_));
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    return received_ > 0 && pred(last_);
  }
  std::vector<Resp> Responses() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    return responses_;
  }
  int64_t received() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    return received_;
  }

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock l(&mu_);
      if (!ok || queue_.empty()) {
        writing_ = false;
        return;
      }
      request_ = std::move(queue_.front());
      queue_.pop_front();
    }
    this->StartWrite(&request_);
  }
  void OnReadDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    if (!ok) {
      absl::MutexLock l(&mu_);
      reading_ = false;
      return;
    }
    if (on_response_) on_response_(response_);
    {
      absl::MutexLock l(&mu_);
      ++received_;
      last_ = response_;
      if (keep_) responses_.push_back(response_);
      if (paused_) {
        reading_ = false;
        return;
      }
    }
    this->StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock l(&mu_);
      status_ = status;
      done_ = true;
    }
    finished_.Notify();
  }

 private:
  const bool keep_;
  const OnResponse on_response_;
  grpc::ClientContext context_;
  // request_ is written only while no write is in flight; response_ only by the read path.
  Req request_;
  Resp response_;
  absl::Notification finished_;

  absl::Mutex mu_;
  std::deque<Req> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<Resp> responses_ ABSL_GUARDED_BY(mu_);
  Resp last_ ABSL_GUARDED_BY(mu_);
  int64_t received_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

using SotwStream = AdsStream<SotwRequest, SotwResponse>;
using DeltaStream = AdsStream<DeltaRequest, DeltaResponse>;

}  // namespace slicekeeper::xds::testing

#endif  // SLICEKEEPER_TESTS_XDS_ADS_CLIENT_H_
