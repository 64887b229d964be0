#include "server/http/http_server.h"

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/http/http_client.h"
#include "tests/test_util.h"

namespace slicekeeper::http {
namespace {

using ::slicekeeper::testing::Fetch;
using ::slicekeeper::testing::HttpReply;
using ::slicekeeper::testing::HttpStream;
using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;

// Answers with what it received: "<tag> <method> <path> q=<query> a=<param a> h=<X-Test> <body>".
class EchoHandler : public Handler {
 public:
  explicit EchoHandler(std::string tag) : tag_(std::move(tag)) {}
  void Serve(const Request& r, Response& resp) override {
    resp.Send(200, "text/plain",
              absl::StrCat(tag_, " ", r.method, " ", r.path, " q=", r.query,
                           " a=", r.Param("a").value_or("-"),
                           " h=", r.Header("x-test").value_or("-"), " ", r.body));
  }
  void Refuse(const Request& r, Response& resp, int status, absl::string_view message) override {
    resp.Send(status, "application/json", absl::StrCat("{\"refused\":\"", message, "\"}"));
  }

 private:
  std::string tag_;
};

// Streams one line per Notify until the peer goes or the server stops; counts how it ended.
class TickHandler : public Handler {
 public:
  void Serve(const Request& r, Response& resp) override {
    absl::StatusOr<ResponseStream*> stream = resp.StartStream(200, "application/json");
    if (!stream.ok()) {
      resp.Send(429, "text/plain", std::string(stream.status().message()));
      return;
    }
    {
      absl::MutexLock l(&mu_);
      current_ = *stream;
    }
    (*stream)->Write("hello\n");
    started_.Notify();
    int n = 0;
    while ((*stream)->Wait(absl::InfiniteFuture()) == ResponseStream::WaitResult::kNotified) {
      if (!(*stream)->Write(absl::StrCat("tick ", ++n, "\n"))) break;
    }
    absl::MutexLock l(&mu_);
    current_ = nullptr;
    ended_.Notify();
  }
  void Tick() {
    absl::MutexLock l(&mu_);
    if (current_ != nullptr) current_->Notify();
  }

  absl::Notification started_;
  absl::Notification ended_;

 private:
  absl::Mutex mu_;
  ResponseStream* current_ ABSL_GUARDED_BY(mu_) = nullptr;
};

// A handler that forgets to answer.
class SilentHandler : public Handler {
  void Serve(const Request&, Response&) override {}
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServer::Options options = {}) {
    options.listen_address = "127.0.0.1:0";
    options.num_threads = 8;
    if (options.max_streams > 6) options.max_streams = 2;
    server_ = std::make_unique<HttpServer>(std::move(options));
    server_->Route("/a", &a_);
    server_->Route("/a/b/", &ab_);
    server_->Route("/tick", &tick_);
    server_->Route("/silent", &silent_);
    absl::StatusOr<int> port = server_->Start();
    ASSERT_OK(port);
    port_ = *port;
  }

  std::string Body(absl::string_view method, absl::string_view target,
                   absl::string_view body = "") {
    absl::StatusOr<HttpReply> r = Fetch(port_, method, target, body, {{"X-Test", "t1"}});
    EXPECT_OK(r);
    return r.ok() ? absl::StrCat(r->status, " ", r->body) : "";
  }

  EchoHandler a_{"A"};
  EchoHandler ab_{"AB"};
  TickHandler tick_;
  SilentHandler silent_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
};

// The longest matching prefix wins; a prefix matches only at a path-segment boundary.
TEST_F(HttpServerTest, RoutesByLongestPrefix) {
  StartServer();
  EXPECT_THAT(Body("GET", "/a"), HasSubstr("200 A GET /a "));
  EXPECT_THAT(Body("GET", "/a/x"), HasSubstr("200 A GET /a/x "));
  EXPECT_THAT(Body("GET", "/a/b/c"), HasSubstr("200 AB GET /a/b/c "));
  EXPECT_THAT(Body("GET", "/a/b"), HasSubstr("200 A GET /a/b "));
  EXPECT_EQ(Body("GET", "/ab"), "404 not found\n");
  EXPECT_EQ(Body("GET", "/"), "404 not found\n");
}

// The handler sees the method, decoded query parameters, headers and the whole body.
TEST_F(HttpServerTest, PassesRequestParts) {
  StartServer();
  EXPECT_EQ(Body("POST", "/a?a=x%20y&b=2", "payload"),
            "200 A POST /a q=a=x%20y&b=2 a=x y h=t1 payload");
  std::string big(200'000, 'z');
  EXPECT_EQ(Body("PUT", "/a/b/c", big), "200 AB PUT /a/b/c q= a=- h=t1 " + big);
}

// Admission runs before every handler; its refusals are rendered by the route's handler.
TEST_F(HttpServerTest, AdmissionRefusesThroughHandler) {
  HttpServer::Options options;
  options.admit = [](Request* r) -> absl::Status {
    if (r->Header("authorization") == std::nullopt) return absl::UnauthenticatedError("who?");
    if (r->path != "/a") return absl::PermissionDeniedError("not you");
    r->caller.identity.name = "alice";
    return absl::OkStatus();
  };
  StartServer(options);
  EXPECT_EQ(Body("GET", "/a/b/c"), "401 {\"refused\":\"who?\"}");
  absl::StatusOr<HttpReply> denied = Fetch(port_, "GET", "/a/x", "", {{"Authorization", "x"}});
  ASSERT_OK(denied);
  EXPECT_EQ(denied->status, 403);
  absl::StatusOr<HttpReply> ok = Fetch(port_, "GET", "/a", "", {{"Authorization", "x"}});
  ASSERT_OK(ok);
  EXPECT_EQ(ok->status, 200);
}

// A body over the limit is refused with 413 before the handler runs.
TEST_F(HttpServerTest, BodyLimit) {
  HttpServer::Options options;
  options.max_body_bytes = 1000;
  StartServer(options);
  EXPECT_THAT(Body("POST", "/a", std::string(1001, 'x')), HasSubstr("413 {\"refused\""));
  EXPECT_THAT(Body("POST", "/a", std::string(1000, 'x')), HasSubstr("200 A POST"));
}

// A handler that sends nothing yields 500, not a hung connection.
TEST_F(HttpServerTest, SilentHandlerIs500) {
  StartServer();
  EXPECT_THAT(Body("GET", "/silent"), HasSubstr("500 "));
}

// A stream writes one chunk per Notify, and ends when the peer hangs up, freeing its slot.
TEST_F(HttpServerTest, StreamFollowsNotifyAndPeerHangup) {
  StartServer();
  absl::StatusOr<std::unique_ptr<HttpStream>> s = HttpStream::Open(port_, "/tick");
  ASSERT_OK(s);
  EXPECT_EQ((*s)->status(), 200);
  EXPECT_EQ((*s)->headers().at("transfer-encoding"), "chunked");
  EXPECT_THAT((*s)->ReadLine(absl::Seconds(10)), ::slicekeeper::testing::IsOkAndHolds("hello"));
  ASSERT_TRUE(tick_.started_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  for (int i = 1; i <= 3; ++i) {
    tick_.Tick();
    EXPECT_THAT((*s)->ReadLine(absl::Seconds(10)),
                ::slicekeeper::testing::IsOkAndHolds(absl::StrCat("tick ", i)));
  }
  EXPECT_EQ(server_->active_streams(), 1);
  (*s)->Close();
  // No write is needed to notice: the waiting stream sees the hang-up.
  ASSERT_TRUE(tick_.ended_.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

// Streams beyond max_streams are refused (the handler answers 429); short requests still run.
TEST_F(HttpServerTest, StreamSlotsAreCapped) {
  HttpServer::Options options;
  options.max_streams = 1;
  StartServer(options);
  absl::StatusOr<std::unique_ptr<HttpStream>> first = HttpStream::Open(port_, "/tick");
  ASSERT_OK(first);
  ASSERT_TRUE(tick_.started_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::StatusOr<HttpReply> second = Fetch(port_, "GET", "/tick");
  ASSERT_OK(second);
  EXPECT_EQ(second->status, 429);
  EXPECT_THAT(second->body, HasSubstr("stream slot"));
  EXPECT_THAT(Body("GET", "/a"), HasSubstr("200 A"));
}

// Stop ends a running stream cleanly (last chunk sent) instead of waiting for its peer.
TEST_F(HttpServerTest, StopEndsStreams) {
  StartServer();
  absl::StatusOr<std::unique_ptr<HttpStream>> s = HttpStream::Open(port_, "/tick");
  ASSERT_OK(s);
  ASSERT_TRUE(tick_.started_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  server_->Stop();
  EXPECT_TRUE(tick_.ended_.HasBeenNotified());
  absl::StatusOr<std::string> rest = (*s)->ReadToEnd(absl::Seconds(10));
  ASSERT_OK(rest);
  EXPECT_EQ(*rest, "hello\n");
  EXPECT_EQ(server_->port(), 0);
}

// Bad options and taken ports fail Start clearly.
TEST(HttpServerOptionsTest, StartErrors) {
  HttpServer bad(HttpServer::Options{.listen_address = "127.0.0.1:http"});
  EXPECT_THAT(bad.Start(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port")));
  HttpServer streams(
      HttpServer::Options{.listen_address = "127.0.0.1:0", .num_threads = 4, .max_streams = 3});
  EXPECT_THAT(streams.Start(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_streams")));
  HttpServer first(
      HttpServer::Options{.listen_address = "127.0.0.1:0", .num_threads = 4, .max_streams = 1});
  absl::StatusOr<int> port = first.Start();
  ASSERT_OK(port);
  EXPECT_THAT(first.Start(), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("")));
  HttpServer second(HttpServer::Options{
      .listen_address = absl::StrCat("127.0.0.1:", *port), .num_threads = 4, .max_streams = 1});
  EXPECT_THAT(second.Start(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("127.0.0.1")));
  first.Stop();
  EXPECT_EQ(first.port(), 0);
  first.Stop();  // idempotent
}

// UrlDecode handles escapes, '+' and malformed escapes.
TEST(UrlDecodeTest, Decodes) { EXPECT_EQ(UrlDecode("a%3Db+c%2c%zz%4"), "a=b c,%zz%4"); }

}  // namespace
}  // namespace slicekeeper::http
