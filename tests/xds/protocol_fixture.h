// ProtocolFixture: the real gRPC server (api::Server on a loopback port picked at run time) over
// XdsFixture's store, with ADS stubs and request builders for the xDS protocol tests
// (protocol_test.cc, leds_test.cc).
//
// Thread-safety: gtest's main thread only.
#ifndef SLICEKEEPER_TESTS_XDS_PROTOCOL_FIXTURE_H_
#define SLICEKEEPER_TESTS_XDS_PROTOCOL_FIXTURE_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/create_channel.h>

#include "absl/strings/str_cat.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "server/api/server.h"
#include "tests/xds/ads_client.h"
#include "tests/xds/xds_fixture.h"

namespace slicekeeper::xds::testing {

using Cla = envoy::config::endpoint::v3::ClusterLoadAssignment;

inline constexpr absl::Duration kWait = absl::Seconds(20);

class ProtocolFixture : public XdsFixture {
 protected:
  void SetUp() override {
    server_ = std::make_unique<api::Server>(
        &store_, api::Server::Options{.listen_address = "127.0.0.1:0", .http_listen_address = ""});
    ASSERT_OK(server_->Start());
    stub_ = Stub();
  }
  void TearDown() override { server_->Shutdown(absl::Seconds(5)); }

  // A stub on a channel (a connection) of its own; `window`: the HTTP/2 receive window it keeps
  // (0: gRPC's default, which grows with BDP probing).
  std::unique_ptr<testing::AdsStub> Stub(int window = 0) {
    grpc::ChannelArguments args;
    if (window > 0) {
      args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
      args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, window);
    }
    args.SetInt("grpc.channel_id", next_channel_++);  // distinct args: no shared subchannel
    return envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()),
                                  grpc::InsecureChannelCredentials(), args));
  }

  static SotwRequest Sotw(ResourceType type, std::vector<std::string> names,
                          const SotwResponse* ack = nullptr) {
    SotwRequest r;
    r.mutable_node()->set_id("protocol-test");
    r.set_type_url(std::string(TypeUrl(type)));
    for (std::string& n : names) r.add_resource_names(std::move(n));
    if (ack != nullptr) {
      r.set_response_nonce(ack->nonce());
      r.set_version_info(ack->version_info());
    }
    return r;
  }
  static DeltaRequest Delta(ResourceType type, std::vector<std::string> subscribe) {
    DeltaRequest r;
    r.mutable_node()->set_id("protocol-test");
    r.set_type_url(std::string(TypeUrl(type)));
    for (std::string& n : subscribe) r.add_resource_names_subscribe(std::move(n));
    return r;
  }
  // Polls the server's metrics until `sample` appears (at most kWait).
  bool AwaitMetric(const std::string& sample) {
    const absl::Time deadline = absl::Now() + kWait;
    while (server_->registry()->Exposition().find(sample) == std::string::npos) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }
  static auto Count(size_t n) {
    return [n](const auto& responses) { return responses.size() >= n; };
  }
  // The endpoint addresses of a SotW EDS response's assignments, "<cluster>=<address>,...".
  static std::vector<std::string> Assignments(const SotwResponse& r) {
    std::vector<std::string> out;
    for (const auto& any : r.resources()) {
      Cla cla;
      EXPECT_TRUE(any.UnpackTo(&cla));
      std::string line = cla.cluster_name() + "=";
      for (const auto& l : cla.endpoints()) {
        for (const auto& e : l.lb_endpoints()) {
          line += e.endpoint().address().socket_address().address() + ",";
        }
      }
      out.push_back(line);
    }
    return out;
  }

  std::unique_ptr<api::Server> server_;
  std::unique_ptr<testing::AdsStub> stub_;
  int next_channel_ = 0;
};

}  // namespace slicekeeper::xds::testing

#endif  // SLICEKEEPER_TESTS_XDS_PROTOCOL_FIXTURE_H_
