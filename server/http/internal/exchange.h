// Exchange: one request's Response (and, once streaming, its ResponseStream) over a civetweb
// connection. Private to server/http.
//
// A stream waits with poll(2) on an eventfd (Notify writes it) and on the connection's socket for
// POLLRDHUP, so a peer that hangs up ends the wait at once. civetweb does not expose a
// connection's socket, so it is found once per stream by its address pair (peer_socket.h); when
// that fails the stream still works and only notices a gone peer on its next write.
//
// Thread-safety: everything but Notify and Close is for the request's thread. Notify and Close
// may be called from any thread while the exchange exists.
#ifndef SLICEKEEPER_SERVER_HTTP_INTERNAL_EXCHANGE_H_
#define SLICEKEEPER_SERVER_HTTP_INTERNAL_EXCHANGE_H_

#include <atomic>
#include <string>

#include "absl/time/time.h"
#include "server/http/handler.h"

struct mg_connection;

namespace slicekeeper::http {
class HttpServer;
}  // namespace slicekeeper::http

namespace slicekeeper::http::internal {

class Exchange final : public Response, public ResponseStream {
 public:
  Exchange(HttpServer* server, mg_connection* conn, bool head_only, bool http10,
           absl::Duration io_timeout);
  // Releases the stream slot and the eventfd.
  ~Exchange() override;
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Response.
  void Send(int status, absl::string_view content_type, absl::string_view body,
            const HeaderList& headers) override;
  absl::StatusOr<ResponseStream*> StartStream(int status, absl::string_view content_type,
                                              const HeaderList& headers) override;

  // ResponseStream.
  bool WriteGather(absl::Span<const absl::string_view> pieces) override;
  void Notify() override;
  WaitResult Wait(absl::Time deadline) override;

  // After Serve returned: ends a healthy chunked stream with its last chunk, or answers 500 if
  // the handler sent nothing. Returns the status code sent.
  int Finish();
  // Makes every later Wait return kClosed (the server is stopping) and wakes the current one.
  void Close();

 private:
  void WriteHead(int status, absl::string_view content_type, const HeaderList& headers,
                 absl::string_view length_or_encoding);
  // Sends the pieces straight to the socket (plain-text connections whose socket was found).
  bool SendDirect(absl::Span<const absl::string_view> pieces);
  // Copies the pieces into one buffer for civetweb's mg_write (TLS, or no socket).
  bool SendCopied(absl::Span<const absl::string_view> pieces);

  HttpServer* const server_;
  mg_connection* const conn_;
  const bool head_only_;
  const bool http10_;
  int status_ = 0;
  bool streaming_ = false;
  bool broken_ = false;
  // The connection's socket (not owned), or -1; the eventfd Notify writes (owned), or -1.
  int socket_fd_ = -1;
  int event_fd_ = -1;
  // Writes go to socket_fd_ directly (a plain-text connection whose socket was found).
  bool direct_ = false;
  absl::Duration io_timeout_;
  std::atomic<bool> closed_{false};
  // One chunk's framing and data, written with one call.
  std::string chunk_;
};

}  // namespace slicekeeper::http::internal

#endif  // SLICEKEEPER_SERVER_HTTP_INTERNAL_EXCHANGE_H_
