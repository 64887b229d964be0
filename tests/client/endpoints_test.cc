// Tests of libslicekeeper's client-side endpoint views (client/endpoints.h): kube-proxy's merge
// (docs/kubernetes-behaviour.md §5.1) and routing rule (§5.2).
#include "client/endpoints.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace slicekeeper::client {
namespace {

using ::testing::ElementsAre;

v1::Endpoint Ep(const std::string& address, bool ready, bool terminating = false,
                const std::vector<std::string>& zone_hints = {}) {
  v1::Endpoint e;
  e.add_addresses(address);
  e.mutable_conditions()->set_ready(ready);
  e.mutable_conditions()->set_serving(ready || terminating);
  e.mutable_conditions()->set_terminating(terminating);
  for (const auto& z : zone_hints) e.mutable_hints()->add_for_zones()->set_name(z);
  return e;
}

v1::EndpointSlice Slice(const std::string& name, std::vector<v1::Endpoint> endpoints,
                        const std::string& address_type = "IPv4") {
  v1::EndpointSlice s;
  s.mutable_metadata()->set_name(name);
  s.set_address_type(address_type);
  v1::EndpointPort* p = s.add_ports();
  p->set_name("http");
  p->set_port(80);
  for (auto& e : endpoints) *s.add_endpoints() = std::move(e);
  return s;
}

std::vector<std::string> Addresses(const EndpointList& list) {
  std::vector<std::string> out;
  for (const auto& e : list) out.push_back(e.address());
  return out;
}

// A terminating duplicate never replaces a non-terminating entry, in either slice order.
TEST(MergeSlicesTest, NonTerminatingWinsInEitherOrder) {
  v1::EndpointSlice a = Slice("a", {Ep("10.0.0.1", true)});
  v1::EndpointSlice b = Slice("b", {Ep("10.0.0.1", false, /*terminating=*/true)});
  for (auto order : {std::vector<const v1::EndpointSlice*>{&a, &b},
                     std::vector<const v1::EndpointSlice*>{&b, &a}}) {
    EndpointList merged = MergeSlices(order, "");
    ASSERT_EQ(merged.size(), 1u);
    EXPECT_TRUE(merged[0].conditions().ready());
    EXPECT_FALSE(merged[0].conditions().terminating());
    ASSERT_EQ(merged[0].ports_size(), 1);
    EXPECT_EQ(merged[0].ports(0).protocol(), "TCP");  // nil protocol defaulted
  }
}

// FQDN slices, other families and endpoints without addresses are left out; output is sorted.
TEST(MergeSlicesTest, SkipsFqdnOtherFamilyAndEmpty) {
  v1::EndpointSlice v4 = Slice("a", {Ep("10.0.0.2", true), Ep("10.0.0.1", true)});
  v4.add_endpoints();  // no addresses
  v1::EndpointSlice v6 = Slice("b", {Ep("fd00::1", true)}, "IPv6");
  v1::EndpointSlice fqdn = Slice("c", {Ep("db.example.com", true)}, "FQDN");
  std::vector<const v1::EndpointSlice*> all = {&v4, &v6, &fqdn};
  EXPECT_THAT(Addresses(MergeSlices(all, "")), ElementsAre("10.0.0.1", "10.0.0.2", "fd00::1"));
  EXPECT_THAT(Addresses(MergeSlices(all, "IPv4")), ElementsAre("10.0.0.1", "10.0.0.2"));
}

// Routable: ready endpoints; with none ready, the serving && terminating ones.
TEST(RoutableEndpointsTest, FallsBackToServingTerminating) {
  v1::EndpointSlice s = Slice("a", {Ep("10.0.0.1", false, true), Ep("10.0.0.2", false)});
  EndpointList merged = MergeSlices({&s}, "");
  EXPECT_THAT(Addresses(RoutableEndpoints(merged, {})), ElementsAre("10.0.0.1"));
  v1::EndpointSlice t = Slice("b", {Ep("10.0.0.3", true)});
  merged = MergeSlices({&s, &t}, "");
  EXPECT_THAT(Addresses(RoutableEndpoints(merged, {})), ElementsAre("10.0.0.3"));
}

// Zone hints are used only when every ready endpoint has one; one unhinted endpoint disables them.
TEST(RoutableEndpointsTest, HintsOnlyWhenEveryReadyEndpointHasOne) {
  v1::EndpointSlice hinted =
      Slice("a", {Ep("10.0.0.1", true, false, {"a"}), Ep("10.0.0.2", true, false, {"b"}),
                  Ep("10.0.0.9", false)});  // not ready: ignored
  EndpointList merged = MergeSlices({&hinted}, "");
  EXPECT_THAT(Addresses(RoutableEndpoints(merged, {.zone = "a"})), ElementsAre("10.0.0.1"));
  // No endpoint hinted for the caller's zone: hints are not used.
  EXPECT_THAT(Addresses(RoutableEndpoints(merged, {.zone = "c"})),
              ElementsAre("10.0.0.1", "10.0.0.2"));
  v1::EndpointSlice partial = Slice("b", {Ep("10.0.0.3", true)});
  merged = MergeSlices({&hinted, &partial}, "");
  EXPECT_THAT(Addresses(RoutableEndpoints(merged, {.zone = "a"})),
              ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3"));
}

// Filters: condition, zone preference with fallback, and port name.
TEST(FilterEndpointsTest, ConditionZoneAndPort) {
  v1::Endpoint a = Ep("10.0.0.1", true);
  a.set_zone("z1");
  v1::Endpoint b = Ep("10.0.0.2", false);
  b.set_zone("z2");
  v1::EndpointSlice s = Slice("a", {a, b});
  EndpointList merged = MergeSlices({&s}, "");
  using C = EndpointFilter::Condition;
  EXPECT_THAT(Addresses(FilterEndpoints(merged, {.condition = C::kReady})),
              ElementsAre("10.0.0.1"));
  EXPECT_THAT(Addresses(FilterEndpoints(merged, {.zone = "z2"})), ElementsAre("10.0.0.2"));
  EXPECT_THAT(Addresses(FilterEndpoints(merged, {.zone = "z3"})), ElementsAre());
  EXPECT_THAT(Addresses(FilterEndpoints(merged, {.zone = "z3", .prefer_zone = true})),
              ElementsAre("10.0.0.1", "10.0.0.2"));
  EXPECT_THAT(Addresses(FilterEndpoints(merged, {.port_name = std::string("grpc")})),
              ElementsAre());
  EXPECT_EQ(FormatBackends(FilterEndpoints(merged, {.port_name = std::string("http")})),
            "10.0.0.1:80,10.0.0.2:80");
}

}  // namespace
}  // namespace slicekeeper::client
