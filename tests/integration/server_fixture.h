// ServerTest: a gtest fixture that starts a fresh slicekeeper process per test (isolated state,
// a revision counter starting at 0) and connects stubs to it, plus small read helpers.
//
// A test that needs server flags derives a fixture and overrides ExtraArgs().
//
// Thread-safety: gtest's main thread only, except the stubs (thread-safe).
#ifndef SLICEKEEPER_TESTS_INTEGRATION_SERVER_FIXTURE_H_
#define SLICEKEEPER_TESTS_INTEGRATION_SERVER_FIXTURE_H_

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/integration/client_util.h"
#include "tests/integration/server_process.h"

#ifndef SK_SLICEKEEPER_BINARY
#error "SK_SLICEKEEPER_BINARY must name the slicekeeper executable ($<TARGET_FILE:slicekeeper>)"
#endif

namespace slicekeeper::integration {

class ServerTest : public ::testing::Test {
 protected:
  // Flags appended to the defaults (quiet logs, a short shutdown grace).
  virtual std::vector<std::string> ExtraArgs() const { return {}; }

  void SetUp() override {
    std::vector<std::string> args = {"--log_level=warn", "--shutdown_grace=5s"};
    for (std::string& a : ExtraArgs()) args.push_back(std::move(a));
    auto server = ServerProcess::Start({.binary = SK_SLICEKEEPER_BINARY, .args = args});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    clients_ = std::make_unique<Clients>(server_->grpc_address());
  }

  Registry::Stub* registry() { return clients_->registry.get(); }
  Discovery::Stub* discovery() { return clients_->discovery.get(); }

  Rpc<v1::ChangeAck> Apply(std::vector<v1::EndpointChange> changes, uint64_t batch_id = 0) {
    return Call(registry(), &Registry::Stub::ApplyChanges, Batch(std::move(changes), batch_id));
  }

  Rpc<v1::QueryEndpointsResponse> Query(const std::string& ns, const std::string& service,
                                        v1::EndpointCondition condition = v1::ANY) {
    v1::QueryEndpointsRequest request;
    request.set_namespace_(ns);
    request.set_service(service);
    request.set_condition(condition);
    return Call(discovery(), &Discovery::Stub::QueryEndpoints, request);
  }

  // The addresses QueryEndpoints returns for `request` (sorted by the server); records a test
  // failure and returns {"<error>"} when the call fails.
  std::vector<std::string> Addresses(const v1::QueryEndpointsRequest& request) {
    Rpc<v1::QueryEndpointsResponse> rpc =
        Call(discovery(), &Discovery::Stub::QueryEndpoints, request);
    if (!rpc.status.ok()) {
      ADD_FAILURE() << "QueryEndpoints: " << Describe(rpc.status);
      return {"<error>"};
    }
    std::vector<std::string> out;
    for (const v1::ServiceEndpoint& e : rpc.response.endpoints()) out.push_back(e.address());
    return out;
  }
  std::vector<std::string> Addresses(const std::string& ns, const std::string& service,
                                     v1::EndpointCondition condition = v1::ANY) {
    v1::QueryEndpointsRequest request;
    request.set_namespace_(ns);
    request.set_service(service);
    request.set_condition(condition);
    return Addresses(request);
  }

  // Every slice of `ns` (one unpaged listing).
  Rpc<v1::ListEndpointSlicesResponse> List(const std::string& ns, const std::string& service = "") {
    v1::ListEndpointSlicesRequest request;
    request.set_namespace_(ns);
    request.set_service(service);
    return Call(discovery(), &Discovery::Stub::ListEndpointSlices, request);
  }

  // The store's revision, as a (cheap) ListServices reports it; -1 on error.
  int64_t Revision() {
    Rpc<v1::ListServicesResponse> rpc =
        Call(discovery(), &Discovery::Stub::ListServices, v1::ListServicesRequest());
    EXPECT_TRUE(rpc.status.ok()) << Describe(rpc.status);
    return rpc.status.ok() ? rpc.response.revision() : -1;
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Clients> clients_;
};

}  // namespace slicekeeper::integration

#endif  // SLICEKEEPER_TESTS_INTEGRATION_SERVER_FIXTURE_H_
