#include "server/metrics/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace slicekeeper::metrics {
namespace {

using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;

struct Response {
  int status = 0;
  std::string headers;
  std::string body;
};

// A minimal HTTP/1.0 client over a loopback socket: one request, read to EOF.
Response Fetch(int port, const std::string& path, const std::string& method = "GET") {
  Response r;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return r;
  }
  std::string req = absl::StrCat(method, " ", path, " HTTP/1.0\r\nHost: localhost\r\n\r\n");
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return r;
  }
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) raw.append(buf, n);
  close(fd);
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.size() < 12) return r;
  r.headers = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  if (!absl::SimpleAtoi(raw.substr(9, 3), &r.status)) r.status = -1;
  return r;
}

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest()
      : server_(HttpServer::Options{.listen_address = "127.0.0.1:0",
                                    .registry = &registry_,
                                    .ready = [this] { return ready_.load(); }}) {}

  Registry registry_;
  std::atomic<bool> ready_{false};
  HttpServer server_;
};

// Port 0 binds a free port and Start reports it; port() agrees until Stop.
TEST_F(HttpServerTest, StartReportsBoundPort) {
  EXPECT_EQ(server_.port(), 0);
  absl::StatusOr<int> port = server_.Start();
  ASSERT_OK(port);
  EXPECT_GT(*port, 0);
  EXPECT_EQ(server_.port(), *port);
  EXPECT_THAT(server_.Start(), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("")));
  server_.Stop();
  EXPECT_EQ(server_.port(), 0);
  server_.Stop();  // idempotent
}

// /metrics serves the registry's exposition with the Prometheus content type.
TEST_F(HttpServerTest, ServesMetrics) {
  registry_.AddCounter("sk_requests_total", "Requests.")->Inc(5);
  absl::StatusOr<int> port = server_.Start();
  ASSERT_OK(port);
  Response r = Fetch(*port, "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.headers, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_EQ(r.body, registry_.Exposition());
  EXPECT_THAT(r.body, HasSubstr("\nsk_requests_total 5\n"));
  Response head = Fetch(*port, "/metrics", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
}

// /healthz is 200 "ok"; /readyz follows the readiness callback (503, then 200).
TEST_F(HttpServerTest, HealthAndReadiness) {
  absl::StatusOr<int> port = server_.Start();
  ASSERT_OK(port);
  Response health = Fetch(*port, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(Fetch(*port, "/readyz").status, 503);
  ready_ = true;
  Response ready = Fetch(*port, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ok\n");
}

// Unknown paths are 404; other methods 405.
TEST_F(HttpServerTest, UnknownPathIs404) {
  absl::StatusOr<int> port = server_.Start();
  ASSERT_OK(port);
  EXPECT_EQ(Fetch(*port, "/").status, 404);
  EXPECT_EQ(Fetch(*port, "/metricsx").status, 404);
  EXPECT_EQ(Fetch(*port, "/metrics", "POST").status, 405);
}

// Without a readiness callback the server reports ready.
TEST(HttpServerOptionsTest, NoReadinessCallbackMeansReady) {
  Registry registry;
  HttpServer server(HttpServer::Options{.listen_address = "127.0.0.1:0", .registry = &registry});
  absl::StatusOr<int> port = server.Start();
  ASSERT_OK(port);
  EXPECT_EQ(Fetch(*port, "/readyz").status, 200);
}

// A malformed address is INVALID_ARGUMENT; a port in use is UNAVAILABLE.
TEST(HttpServerOptionsTest, StartErrors) {
  Registry registry;
  HttpServer bad(HttpServer::Options{.listen_address = "127.0.0.1:http", .registry = &registry});
  EXPECT_THAT(bad.Start(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port")));
  HttpServer first(HttpServer::Options{.listen_address = "127.0.0.1:0", .registry = &registry});
  absl::StatusOr<int> port = first.Start();
  ASSERT_OK(port);
  HttpServer second(HttpServer::Options{.listen_address = absl::StrCat("127.0.0.1:", *port),
                                        .registry = &registry});
  EXPECT_THAT(second.Start(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("127.0.0.1")));
}

}  // namespace
}  // namespace slicekeeper::metrics
