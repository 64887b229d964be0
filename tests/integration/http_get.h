// HttpGet: one GET to the real server's HTTP port, for the integration tests and harnesses that
// read /metrics or the health probes. A thin name over the HTTP test client every HTTP test uses
// (tests/http/http_client.h).
//
// Thread-safety: stateless; safe from any thread.
#ifndef SLICEKEEPER_TESTS_INTEGRATION_HTTP_GET_H_
#define SLICEKEEPER_TESTS_INTEGRATION_HTTP_GET_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/http/http_client.h"

namespace slicekeeper::integration {

// Status, headers (keys lowercased) and the whole body.
using HttpResponse = ::slicekeeper::testing::HttpReply;

// GET http://127.0.0.1:<port><path>, read to the end of the response.
// Errors: as testing::Fetch (UNAVAILABLE, DEADLINE_EXCEEDED after `timeout`, DATA_LOSS).
inline absl::StatusOr<HttpResponse> HttpGet(int port, absl::string_view path,
                                            absl::Duration timeout = absl::Seconds(10)) {
  return ::slicekeeper::testing::Fetch(port, "GET", path, "", {}, timeout);
}

}  // namespace slicekeeper::integration

#endif  // SLICEKEEPER_TESTS_INTEGRATION_HTTP_GET_H_
