// A small HTTP/1.1 client over loopback sockets (plain, or TLS through GnuTLS after
// SetClientTls) for the tests: whole requests (`Fetch`,
// bodies and chunked responses decoded) and streamed responses read line by line (`HttpStream`,
// for watches). Every socket operation times out, so a hung server fails a test instead of
// stalling it.
//
// Thread-safety: Fetch is stateless; an HttpStream is for one thread.
//
// Example:
//   absl::StatusOr<HttpReply> r = Fetch(port, "GET", "/apis");
//   absl::StatusOr<std::unique_ptr<HttpStream>> w = HttpStream::Open(port, "/x?watch=1");
//   absl::StatusOr<std::string> line = (*w)->ReadLine(absl::Seconds(5));
#ifndef SLICEKEEPER_TESTS_HTTP_HTTP_CLIENT_H_
#define SLICEKEEPER_TESTS_HTTP_HTTP_CLIENT_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace slicekeeper::testing {

struct HttpReply {
  int status = 0;
  // Keys lowercased.
  std::map<std::string, std::string> headers;
  // De-chunked.
  std::string body;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// TLS for the tests whose server's HTTP port is on TLS: the CA verifying the server and an
// optional client certificate and key (PEM files).
struct HttpClientTls {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};
// Every later Fetch and HttpStream speaks TLS with `tls`; nullopt: plaintext again. Not for
// concurrent use with requests in flight.
void SetClientTls(std::optional<HttpClientTls> tls);

// One request to 127.0.0.1:`port`, read to the end of the response.
// Errors: UNAVAILABLE (socket errors), DEADLINE_EXCEEDED (nothing within `timeout`), DATA_LOSS
// (a malformed response, or a body shorter than its Content-Length).
absl::StatusOr<HttpReply> Fetch(int port, absl::string_view method, absl::string_view target,
                                absl::string_view body = "", const HttpHeaders& headers = {},
                                absl::Duration timeout = absl::Seconds(10));

// A streamed (chunked) response, read incrementally.
class HttpStream {
 public:
  // Sends a GET and reads the status line and headers.
  static absl::StatusOr<std::unique_ptr<HttpStream>> Open(
      int port, absl::string_view target, const HttpHeaders& headers = {},
      absl::Duration timeout = absl::Seconds(10));
  // Any request; as Open.
  static absl::StatusOr<std::unique_ptr<HttpStream>> Start(int port, absl::string_view method,
                                                           absl::string_view target,
                                                           absl::string_view body,
                                                           const HttpHeaders& headers,
                                                           absl::Duration timeout);
  ~HttpStream();

  int status() const { return status_; }
  const std::map<std::string, std::string>& headers() const { return headers_; }

  // The next '\n'-terminated line of the body, without the '\n'.
  // Errors: DEADLINE_EXCEEDED (nothing complete within `timeout`), OUT_OF_RANGE (the body
  // ended), UNAVAILABLE / DATA_LOSS.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);
  // Reads until the body ends. Returns what was left unread.
  absl::StatusOr<std::string> ReadToEnd(absl::Duration timeout);
  // Closes the connection (the server should notice the hang-up).
  void Close();

 private:
  explicit HttpStream(int fd) : fd_(fd) {}
  absl::Status Send(absl::string_view data);
  absl::Status ReadHead(absl::Time deadline);
  // Moves decoded body bytes into body_; false at the end of the body.
  absl::StatusOr<bool> Pump(absl::Time deadline);
  absl::Status Receive(absl::Time deadline);

  int fd_;
  // The TLS session and its credentials (GnuTLS), when SetClientTls is on.
  struct Tls;
  Tls* tls_ = nullptr;
  int status_ = 0;
  std::map<std::string, std::string> headers_;
  bool chunked_ = false;
  bool ended_ = false;
  std::string raw_;   // received, not yet decoded
  std::string body_;  // decoded, not yet returned
};

}  // namespace slicekeeper::testing

#endif  // SLICEKEEPER_TESTS_HTTP_HTTP_CLIENT_H_
