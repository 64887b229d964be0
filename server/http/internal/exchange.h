// Exchange: one request over a libmicrohttpd connection, between libmicrohttpd's event thread
// (which reads the request and writes the response) and the server's worker thread that runs the
// handler. Private to server/http.
//
// The request's connection is suspended while a worker serves it; Send and StartStream build a
// libmicrohttpd response and resume the connection, whose access callback then queues it
// (TakeResponse). A stream's response is chunked (a callback response of unknown size):
// WriteGather appends to a buffer the event thread drains through Read; while the buffer is
// empty Read suspends the connection, and the next write (or the end) resumes it. A writer waits
// while more than kMaxBuffered bytes are unsent (a slow reader), at most io_timeout.
//
// A waiting stream polls an eventfd (Notify) and the connection's socket for POLLRDHUP, so a
// peer that hangs up ends the wait at once (libmicrohttpd does not watch suspended connections).
//
// Lifetime: shared by the connection (its request context), the worker and the stream's
// response; the last owner frees it.
//
// Thread-safety: Send, StartStream, WriteGather, Wait and Finish are for the worker; Read,
// TakeResponse and Ended for the event thread; Notify and Close for any thread.
#ifndef SLICEKEEPER_SERVER_HTTP_INTERNAL_EXCHANGE_H_
#define SLICEKEEPER_SERVER_HTTP_INTERNAL_EXCHANGE_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/http/handler.h"

struct MHD_Connection;
struct MHD_Response;

namespace slicekeeper::http {
class HttpServer;
}  // namespace slicekeeper::http

namespace slicekeeper::http::internal {

class Exchange final : public Response,
                       public ResponseStream,
                       public std::enable_shared_from_this<Exchange> {
 public:
  // Bytes a stream may have unsent before its writer waits.
  static constexpr size_t kMaxBuffered = size_t{4} << 20;

  Exchange(HttpServer* server, MHD_Connection* conn, absl::Duration io_timeout);
  // Releases the stream slot and the eventfd.
  ~Exchange() override;
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // The request, filled by the event thread before the exchange is handed to a worker.
  Request& request() { return request_; }
  // Set by the event thread: the body grew over the limit / a response is being produced.
  bool parsed = false;
  bool too_large = false;
  bool dispatched = false;
  // The status sent (0: none yet); read by the event thread once TakeResponse returned one.
  int status() const { return status_; }

  // Response.
  void Send(int status, absl::string_view content_type, absl::string_view body,
            const HeaderList& headers) override;
  absl::StatusOr<ResponseStream*> StartStream(int status, absl::string_view content_type,
                                              const HeaderList& headers) override;

  // ResponseStream.
  bool WriteGather(absl::Span<const absl::string_view> pieces) override;
  void Notify() override;
  WaitResult Wait(absl::Time deadline) override;

  // After Serve returned: ends a stream, or answers 500 if the handler sent nothing. Returns
  // the status code sent.
  int Finish();
  // Makes every later Wait return kClosed (the server is stopping) and wakes the current one.
  void Close();

  // Event thread: marks the connection as suspended until the worker's response (the access
  // callback suspends it right after).
  void AwaitResponse() ABSL_LOCKS_EXCLUDED(mu_);
  // Event thread: the response to queue (owned by the caller), or null while there is none.
  MHD_Response* TakeResponse() ABSL_LOCKS_EXCLUDED(mu_);
  // Event thread: libmicrohttpd's content reader of a stream.
  ssize_t Read(char* buf, size_t max) ABSL_LOCKS_EXCLUDED(mu_);
  // Event thread: the connection is done (closed, or the request completed).
  void Ended() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Hands `response` to the event thread and wakes the connection.
  void Deliver(MHD_Response* response) ABSL_LOCKS_EXCLUDED(mu_);
  void ResumeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  HttpServer* const server_;
  MHD_Connection* const conn_;
  const absl::Duration io_timeout_;
  Request request_;
  // Worker-thread state.
  int status_ = 0;
  bool streaming_ = false;
  bool head_only_ = false;
  int socket_fd_ = -1;
  int event_fd_ = -1;
  std::atomic<bool> closed_{false};

  absl::Mutex mu_;
  // The connection is suspended, waiting for the worker (a response, data or the end).
  bool suspended_ ABSL_GUARDED_BY(mu_) = false;
  MHD_Response* response_ ABSL_GUARDED_BY(mu_) = nullptr;
  // A stream's unsent bytes: out_[out_pos_, end).
  std::string out_ ABSL_GUARDED_BY(mu_);
  size_t out_pos_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // The peer is gone or a write timed out.
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  // The connection ended: it must never be resumed again.
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slicekeeper::http::internal

#endif  // SLICEKEEPER_SERVER_HTTP_INTERNAL_EXCHANGE_H_
