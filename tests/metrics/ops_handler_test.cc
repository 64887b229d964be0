#include "server/metrics/ops_handler.h"

#include <atomic>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http/http_server.h"
#include "tests/http/http_client.h"
#include "tests/test_util.h"

namespace slicekeeper::metrics {
namespace {

using ::slicekeeper::testing::HttpReply;
using ::testing::HasSubstr;

HttpReply Fetch(int port, const std::string& path, const std::string& method = "GET") {
  absl::StatusOr<HttpReply> r = ::slicekeeper::testing::Fetch(port, method, path);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : HttpReply{};
}

class OpsHandlerTest : public ::testing::Test {
 protected:
  OpsHandlerTest()
      : ops_(OpsHandler::Options{.registry = &registry_, .ready = [this] { return ready_.load(); }}),
        server_(http::HttpServer::Options{.listen_address = "127.0.0.1:0", .num_threads = 4,
                                          .max_streams = 1}) {
    ops_.Install(&server_);
  }

  int Start() {
    absl::StatusOr<int> port = server_.Start();
    EXPECT_TRUE(port.ok()) << port.status();
    return port.ok() ? *port : 0;
  }

  Registry registry_;
  std::atomic<bool> ready_{false};
  OpsHandler ops_;
  http::HttpServer server_;
};

// /metrics serves the registry's exposition with the Prometheus content type.
TEST_F(OpsHandlerTest, ServesMetrics) {
  registry_.AddCounter("sk_requests_total", "Requests.")->Inc(5);
  const int port = Start();
  HttpReply r = Fetch(port, "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.headers["content-type"], HasSubstr("text/plain; version=0.0.4"));
  EXPECT_EQ(r.body, registry_.Exposition());
  EXPECT_THAT(r.body, HasSubstr("\nsk_requests_total 5\n"));
  HttpReply head = Fetch(port, "/metrics", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
}

// /healthz is 200 "ok"; /readyz follows the readiness callback (503, then 200).
TEST_F(OpsHandlerTest, HealthAndReadiness) {
  const int port = Start();
  HttpReply health = Fetch(port, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(Fetch(port, "/readyz").status, 503);
  ready_ = true;
  HttpReply ready = Fetch(port, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ok\n");
}

// Unknown paths are 404; other methods 405.
TEST_F(OpsHandlerTest, UnknownPathIs404) {
  const int port = Start();
  EXPECT_EQ(Fetch(port, "/").status, 404);
  EXPECT_EQ(Fetch(port, "/metricsx").status, 404);
  EXPECT_EQ(Fetch(port, "/metrics", "POST").status, 405);
}

// Without a readiness callback the handler reports ready.
TEST(OpsHandlerOptionsTest, NoReadinessCallbackMeansReady) {
  Registry registry;
  OpsHandler ops(OpsHandler::Options{.registry = &registry});
  http::HttpServer server(
      http::HttpServer::Options{.listen_address = "127.0.0.1:0", .num_threads = 4, .max_streams = 1});
  ops.Install(&server);
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok());
  EXPECT_EQ(Fetch(*port, "/readyz").status, 200);
}

}  // namespace
}  // namespace slicekeeper::metrics
