// A minimal HTTP/1.0 GET over a plain loopback socket, so the tests need no HTTP library.
//
// Thread-safety: stateless; safe from any thread.
#ifndef SLICEKEEPER_TESTS_INTEGRATION_HTTP_GET_H_
#define SLICEKEEPER_TESTS_INTEGRATION_HTTP_GET_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace slicekeeper::integration {

struct HttpResponse {
  int status = 0;
  // Keys lowercased.
  std::map<std::string, std::string> headers;
  std::string body;
};

// GET http://127.0.0.1:<port><path> with "Connection: close" (and `headers`, each line ending
// in "\r\n") and reads to EOF.
// Errors: UNAVAILABLE (connect / send / receive failed or timed out after `timeout`),
// DATA_LOSS (the response is not HTTP/1.x, or its body is shorter than its Content-Length).
absl::StatusOr<HttpResponse> HttpGet(int port, absl::string_view path,
                                     absl::Duration timeout = absl::Seconds(10),
                                     absl::string_view headers = "");

}  // namespace slicekeeper::integration

#endif  // SLICEKEEPER_TESTS_INTEGRATION_HTTP_GET_H_
