// RawWatch: a Watch stream for the load harnesses (watch_load, etcd_baseline) that reads each
// WatchResponse's bytes with a wire scanner instead of parsing messages. With thousands of streams
// on the same two cores as the server, parsing every slice into protobuf objects made the
// harness, not the server, most of the machine's CPU; the harnesses need only each event's type,
// revision, service, endpoint count and trigger-time annotation.
//
// Watch is a server-streaming method; a generic bidi call that writes one request message and
// half-closes is the same on the wire and hands the reactor the raw bytes.
//
// Thread-safety: OnEvents runs on gRPC's callback threads, one message at a time per stream;
// Start and Stop are for the owner's thread.
#ifndef SLICEKEEPER_BENCH_RAW_WATCH_H_
#define SLICEKEEPER_BENCH_RAW_WATCH_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::bench {

// What the harnesses read of one WatchEvent.
struct ScannedEvent {
  int type = 0;  // v1::WatchEvent::Type
  int64_t revision = 0;
  // ENDPOINTS view: the event's service; SLICES view: the slice's kubernetes.io/service-name.
  std::string service;
  // SLICES view: the endpoints in the slice; ENDPOINTS view: 1 when the event has an endpoint.
  int endpoints = 0;
  // SLICES view: the endpoints.kubernetes.io/last-change-trigger-time annotation, if any.
  std::string trigger_time;
};

// Reads a serialized WatchResponse's events into `events` (cleared first). False if the bytes
// are not a well-formed WatchResponse.
bool ScanWatchResponse(grpc::ByteBuffer* buffer, std::vector<ScannedEvent>* events);

class RawWatch : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  RawWatch() = default;
  RawWatch(const RawWatch&) = delete;
  RawWatch& operator=(const RawWatch&) = delete;

  // Opens the stream; call once.
  void Start(grpc::GenericStub* stub, const v1::WatchRequest& request);
  // Cancels the stream and waits until gRPC is done with it. Call once, after Start.
  void Stop();

  void OnReadDone(bool ok) final;
  void OnDone(const grpc::Status& status) final;

 protected:
  // One message's events. A message that does not scan aborts the harness.
  virtual void OnEvents(const std::vector<ScannedEvent>& events) = 0;
  // The size of the message whose events OnEvents is given (valid during OnEvents).
  size_t message_bytes() const { return message_bytes_; }

 private:
  grpc::ClientContext ctx_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::vector<ScannedEvent> scanned_;
  size_t message_bytes_ = 0;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_RAW_WATCH_H_
