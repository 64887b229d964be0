// WatchLoop: the thread behind an etcd::Watcher. It opens a Watch stream with one create request
// (progress_notify, no fragmentation, "hasleader" so a member cut off from its leader drops the
// stream instead of going silent), feeds responses to the handler, and on any stream failure or
// server-side cancellation reconnects to the next endpoint after a jittered backoff, resuming at
// the revision after the last one delivered (or after the last progress notification).
//
// Thread-safety: Start and Stop from the owner's thread; everything else runs on the loop's
// thread. Lock order: mu_ only; never held while calling the handler or blocking on the stream.
#ifndef SLICEKEEPER_SERVER_STORAGE_ETCD_INTERNAL_WATCH_LOOP_H_
#define SLICEKEEPER_SERVER_STORAGE_ETCD_INTERNAL_WATCH_LOOP_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/backoff.h"
#include "server/storage/etcd/etcd_client.h"
#include "server/storage/etcd/internal/channels.h"

namespace slicekeeper::etcd::internal {

class WatchLoop {
 public:
  // [key, range_end) as etcd's WatchCreateRequest takes them. Does no work (see Start).
  WatchLoop(std::shared_ptr<Channels> channels, std::string key, std::string range_end,
            int64_t start_revision, WatchHandler* handler);
  ~WatchLoop();  // Stop()

  // Starts the thread. REQUIRES: called once.
  void Start();
  // Cancels the current stream, ends any backoff wait and joins the thread. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  enum class StreamEnd { kRetry, kStop };
  // What one response asks of the stream loop.
  enum class Next { kContinue, kCancel, kStop };

  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until endpoint's channel is connected, checking for Stop every few milliseconds.
  grpc::Status Connect(const Endpoint& endpoint) ABSL_LOCKS_EXCLUDED(mu_);
  // One stream against `endpoint`, from open to close.
  StreamEnd RunStream(const Endpoint& endpoint) ABSL_LOCKS_EXCLUDED(mu_);
  Next Handle(const etcdserverpb::WatchResponse& response, const Endpoint& endpoint);
  // Delivers events (already de-duplicated) or a progress notification.
  void Deliver(int64_t header_revision, std::vector<mvccpb::Event> events);
  // Waits out `delay` unless Stop comes first; false when stopping.
  bool WaitUnlessStopping(absl::Duration delay) ABSL_LOCKS_EXCLUDED(mu_);

  // Immutable after construction.
  const std::shared_ptr<Channels> channels_;
  const std::string key_;
  const std::string range_end_;
  WatchHandler* const handler_;

  // Owned by the loop thread.
  int64_t next_revision_;                 // where a (re)connect starts; 0: "now", before the first
  int64_t reported_header_ = 0;           // the highest header_revision given to the handler
  bool created_ = false;                  // the current stream's watch is established
  std::vector<mvccpb::Event> fragments_;  // a fragmented response's events so far
  Backoff backoff_;

  std::thread thread_;  // started by Start, joined by Stop

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The open stream's context, for Stop's TryCancel; null between streams.
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace slicekeeper::etcd::internal

#endif  // SLICEKEEPER_SERVER_STORAGE_ETCD_INTERNAL_WATCH_LOOP_H_
