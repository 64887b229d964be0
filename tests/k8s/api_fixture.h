// The Kubernetes API in-process for protocol tests: a memory store, the watch hub with short
// bookmark and tick intervals, and the HTTP port on 127.0.0.1:0 serving KubernetesApi. Requests go
// over real sockets (tests/http/http_client.h); JSON answers are parsed with protobuf's parser.
//
// Thread-safety: the fixture is for the test's thread; the server runs on its own threads.
#ifndef SLICEKEEPER_TESTS_K8S_API_FIXTURE_H_
#define SLICEKEEPER_TESTS_K8S_API_FIXTURE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "server/http/http_server.h"
#include "server/k8s/api.h"
#include "server/k8s/codec.h"
#include "server/store/store.h"
#include "server/watch/hub.h"
#include "tests/http/http_client.h"
#include "tests/json_path.h"
#include "tests/test_util.h"

namespace slicekeeper::k8s {

using ::google::protobuf::Value;

using ::slicekeeper::testing::At;

inline Value Json(absl::string_view text) {
  absl::StatusOr<Value> v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << v.status() << " in: " << text;
  return v.ok() ? *v : Value();
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Store::Options so;
    so.history_size = history_size_;
    store_ = std::make_unique<store::Store>(so);
    watch::Hub::Options ho;
    ho.bookmark_interval = absl::Milliseconds(100);
    ho.tick = absl::Milliseconds(20);
    ho.max_lag = max_lag_;
    hub_ = std::make_unique<watch::Hub>(store_.get(), ho);
    hub_->Start();
    api_ = std::make_unique<KubernetesApi>(
        store_.get(), hub_.get(),
        KubernetesApi::Options{.resource_version_wait = absl::Milliseconds(200)});
    http_ = std::make_unique<http::HttpServer>(http::HttpServer::Options{
        .listen_address = "127.0.0.1:0", .num_threads = 16, .max_streams = 8});
    api_->Install(http_.get());
    absl::StatusOr<int> port = http_->Start();
    ASSERT_OK(port);
    port_ = *port;
  }
  void TearDown() override {
    http_->Stop();
    hub_->Stop();
  }

  // A foreign slice of `service` in namespace "ns" with endpoints at 10.0.0.<ip..>.
  static v1::EndpointSlice SliceObject(const std::string& name, const std::string& service, int ip,
                                       int endpoints = 1) {
    v1::EndpointSlice s;
    s.mutable_metadata()->set_name(name);
    s.mutable_metadata()->set_namespace_("ns");
    (*s.mutable_metadata()->mutable_labels())[kLabelServiceName] = service;
    s.set_address_type("IPv4");
    for (int i = 0; i < endpoints; ++i) {
      s.add_endpoints()->add_addresses(
          absl::StrCat("10.0.", (ip + i) / 250, ".", (ip + i) % 250 + 1));
    }
    v1::EndpointPort* p = s.add_ports();
    p->set_name("http");
    p->set_port(80);
    return s;
  }
  // Stores SliceObject(...) and returns the revision.
  int64_t Put(const std::string& name, const std::string& service, int ip) {
    absl::StatusOr<std::pair<SlicePtr, int64_t>> r =
        store_->PutSlice(SliceObject(name, service, ip));
    EXPECT_OK(r);
    return r.ok() ? r->second : 0;
  }

  testing::HttpReply Request(absl::string_view method, absl::string_view target,
                             absl::string_view body = "", testing::HttpHeaders headers = {}) {
    absl::StatusOr<testing::HttpReply> r = testing::Fetch(port_, method, target, body, headers);
    EXPECT_OK(r);
    return r.ok() ? *r : testing::HttpReply{};
  }
  Value GetJson(absl::string_view target, int want_code = 200) {
    testing::HttpReply r = Request("GET", target);
    EXPECT_EQ(r.status, want_code) << target << ": " << r.body;
    return Json(r.body);
  }

  static constexpr char kSlices[] = "/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices";
  static constexpr char kAllSlices[] = "/apis/discovery.k8s.io/v1/endpointslices";

  int history_size_ = 1000;
  absl::Duration max_lag_ = absl::Seconds(60);
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<watch::Hub> hub_;
  std::unique_ptr<KubernetesApi> api_;
  std::unique_ptr<http::HttpServer> http_;
  int port_ = 0;
};

}  // namespace slicekeeper::k8s

#endif  // SLICEKEEPER_TESTS_K8S_API_FIXTURE_H_
