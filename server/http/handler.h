// The contract between the HTTP side port (server/http/http_server.h) and the front-ends that
// serve paths on it: /metrics and the health probes (server/metrics), the Kubernetes API
// (server/k8s), later the operator page. A front-end implements `Handler` and registers it for a
// path prefix; the server parses the request, admits it (the one place where authentication and
// authorization run, see HttpServer::Options::admit) and calls `Serve` on the request's thread.
//
// A handler answers either with one complete response (`Response::Send`) or with a streamed one
// (`Response::StartStream`: chunked transfer encoding, for watches and server-sent events). A
// stream holds its request's thread until `Serve` returns, so streams are counted and capped by
// the server (see HttpServer); `ResponseStream::Wait` sleeps until the handler is notified (a
// watch hub's Sink::Wake calls `Notify`), the peer hangs up, the server stops, or a deadline.
//
// Thread-safety: a Request, Response and ResponseStream belong to the thread running `Serve`,
// except `ResponseStream::Notify`, which any thread may call while the stream exists (until
// `Serve` returns). A Handler's `Serve` runs concurrently on many threads.
//
// Example:
//   class Hello : public http::Handler {
//     void Serve(const http::Request& req, http::Response& resp) override {
//       resp.Send(200, "text/plain", absl::StrCat("hello ", req.Param("name")));
//     }
//   };
//   server.Route("/hello", &hello);
#ifndef SLICEKEEPER_SERVER_HTTP_HANDLER_H_
#define SLICEKEEPER_SERVER_HTTP_HANDLER_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/auth/request.h"

namespace slicekeeper::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// One parsed request. The body has been read completely (at most the server's max_body_bytes).
struct Request {
  std::string method;
  // The URL-decoded path, without the query.
  std::string path;
  // The raw query string (after '?', still URL-encoded); see Param / Params.
  std::string query;
  // As received; look up with Header().
  HeaderList headers;
  std::string body;
  // "1.0" or "1.1".
  std::string http_version;
  // The peer, "ip:port".
  std::string remote;
  // What the request asks of the authorization layer, as its handler describes it
  // (Handler::Access), set by the server before admission; nullopt: nothing (a health probe).
  std::optional<auth::Request> access;
  // Who sent the request and what it may read, set by the admission hook
  // (HttpServer::Options::admit) for a request with `access`. Without a hook: anonymous, every
  // namespace readable.
  auth::Caller caller;

  // The first header named `name` (case-insensitive), or nullopt.
  std::optional<absl::string_view> Header(absl::string_view name) const;
  // The first query parameter named `name`, URL-decoded, or nullopt.
  std::optional<std::string> Param(absl::string_view name) const;
  // Every query parameter, URL-decoded, in order.
  std::vector<std::pair<std::string, std::string>> Params() const;
};

// Decodes %XX escapes and '+' (as a space) of a URL query component. Malformed escapes are kept
// as they are.
std::string UrlDecode(absl::string_view text);
// Escapes everything but RFC 3986's unreserved characters, for a query component.
std::string UrlEncode(absl::string_view text);

// The body of a streamed response.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;

  // Writes `pieces`, in order, as one chunk (nothing when they are all empty), with one gather
  // write on a plain-text connection: the caller's buffers (shared encodings, say) are not copied
  // into one first. Returns false when the peer is gone, the write failed or did not finish
  // within the server's write timeout: the stream is over and the handler should return.
  virtual bool WriteGather(absl::Span<const absl::string_view> pieces) = 0;
  // WriteGather of one piece.
  bool Write(absl::string_view data) { return WriteGather(absl::MakeConstSpan(&data, 1)); }

  // Wakes the current or next Wait. Never blocks; callable from any thread while the stream
  // exists.
  virtual void Notify() = 0;

  enum class WaitResult {
    kNotified,  // Notify was called (since the previous Wait returned)
    kDeadline,  // `deadline` passed
    kClosed,    // the peer hung up, or the server is stopping: return from Serve
  };
  // Blocks until one of the WaitResults happens; Notify calls made meanwhile fold into one.
  virtual WaitResult Wait(absl::Time deadline) = 0;
};

class Response {
 public:
  virtual ~Response() = default;

  // Sends a complete response with Content-Length. Call at most once, and not after StartStream.
  virtual void Send(int status, absl::string_view content_type, absl::string_view body,
                    const HeaderList& headers = {}) = 0;

  // Sends the status line and headers of a streamed response (chunked for HTTP/1.1; for
  // HTTP/1.0 the body ends when the connection closes). The stream stays valid until Serve
  // returns. Errors: RESOURCE_EXHAUSTED when the server's stream slots are all taken (nothing
  // was sent: answer with Send, e.g. 429); FAILED_PRECONDITION when a response was already sent.
  virtual absl::StatusOr<ResponseStream*> StartStream(int status, absl::string_view content_type,
                                                      const HeaderList& headers = {}) = 0;
};

class Handler {
 public:
  virtual ~Handler() = default;

  // Answers `request` through `response`. Runs on the server's request threads.
  virtual void Serve(const Request& request, Response& response) = 0;

  // What `request` asks of the authorization layer: the role and namespaces the admission hook
  // checks before Serve (HttpServer::Options::admit), derived from the method and path alone
  // (the body is the handler's to read). nullopt: nothing, the path is public (health probes).
  // The default: a reader of at least one namespace, "<METHOD> <path>".
  virtual std::optional<auth::Request> Access(const Request& request) const;

  // Answers a request the server refused before Serve: 401 / 403 from the admission hook, 413
  // for a body over the limit, 400 for a body that could not be read. Override to answer in the
  // front-end's own error format; the default sends `message` as text/plain.
  virtual void Refuse(const Request& request, Response& response, int status,
                      absl::string_view message);
};

// The reason phrase of an HTTP status code ("OK", "Not Found", ...; "Unknown" for others).
absl::string_view ReasonPhrase(int status);

}  // namespace slicekeeper::http

#endif  // SLICEKEEPER_SERVER_HTTP_HANDLER_H_
