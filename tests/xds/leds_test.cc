// LEDS end to end: the real gRPC server with delta ADS streams from a client built from the same
// protos. An opted-in client (node metadata "slicekeeper.io/leds": true) gets
// ClusterLoadAssignments whose localities name LEDS collections, subscribes to them, and then
// receives one LbEndpoint per endpoint change; everyone else is unchanged.
#include <string>
#include <vector>

#include "envoy/config/endpoint/v3/endpoint_components.pb.h"
#include "gmock/gmock.h"
#include "tests/xds/protocol_fixture.h"

// In the fixture's namespace: its request builders, streams and kWait without a using-list.
namespace slicekeeper::xds::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using LbEndpoint = envoy::config::endpoint::v3::LbEndpoint;

constexpr char kPrefix[] =
    "xdstp://slicekeeper/envoy.config.endpoint.v3.LbEndpoint/web.prod%3Agrpc/";

std::string Collection(const std::string& zone) { return kPrefix + zone + "/*"; }
std::string Member(const std::string& zone, const std::string& address) {
  return kPrefix + zone + "/" + address;
}

class LedsTest : public ProtocolFixture {
 protected:
  // web: three endpoints in zone-a, one in zone-b.
  int64_t Fill() {
    return Apply({Change("web", {.address = "10.0.0.1"}), Change("web", {.address = "10.0.0.2"}),
                  Change("web", {.address = "10.0.0.3"}),
                  Change("web", {.address = "10.0.1.1", .zone = "zone-b"})});
  }
  static DeltaRequest OptIn(DeltaRequest r) {
    (*r.mutable_node()->mutable_metadata()->mutable_fields())["slicekeeper.io/leds"].set_bool_value(
        true);
    return r;
  }
  static Cla ClaOf(const DeltaResponse& r) {
    Cla cla;
    EXPECT_EQ(r.resources_size(), 1);
    if (r.resources_size() == 1) {
      EXPECT_TRUE(r.resources(0).resource().UnpackTo(&cla));
    }
    return cla;
  }
  // "name@version address:port/HEALTH" per resource of a LEDS response.
  static std::vector<std::string> Members(const DeltaResponse& r) {
    EXPECT_EQ(r.type_url(), TypeUrl(ResourceType::kLbEndpoint));
    std::vector<std::string> out;
    for (const auto& res : r.resources()) {
      LbEndpoint lb;
      EXPECT_TRUE(res.resource().UnpackTo(&lb)) << res.name();
      const auto& sa = lb.endpoint().address().socket_address();
      out.push_back(res.name() + "@" + res.version() + " " + sa.address() + ":" +
                    std::to_string(sa.port_value()) + "/" +
                    envoy::config::core::v3::HealthStatus_Name(lb.health_status()));
    }
    return out;
  }
  static std::string At(const std::string& zone, const std::string& address, int64_t version,
                        const std::string& health = "HEALTHY") {
    return Member(zone, address) + "@" + std::to_string(version) + " " + address + ":9000/" +
           health;
  }
};

// The opted-in client's CLA names a collection per zone over ADS instead of listing endpoints,
// weighted by the zone's endpoints; a client that did not opt in, and one that asks on a
// state-of-the-world stream (LEDS is delta only), get the inline endpoints as before.
TEST_F(LedsTest, OptInClaShapeOthersUnchanged) {
  Fill();
  DeltaStream leds(stub_.get());
  leds.Send(OptIn(Delta(ResourceType::kEndpoint, {"web.prod.svc.cluster.local:grpc"})));
  DeltaStream plain(stub_.get());
  plain.Send(Delta(ResourceType::kEndpoint, {"web.prod.svc.cluster.local:grpc"}));
  SotwStream sotw(stub_.get());
  SotwRequest sotw_request = Sotw(ResourceType::kEndpoint, {"web.prod:grpc"});
  (*sotw_request.mutable_node()->mutable_metadata()->mutable_fields())["slicekeeper.io/leds"]
      .set_bool_value(true);
  sotw.Send(sotw_request);
  ASSERT_TRUE(leds.Await(Count(1), kWait));
  ASSERT_TRUE(plain.Await(Count(1), kWait));
  ASSERT_TRUE(sotw.Await(Count(1), kWait));

  const Cla cla = ClaOf(leds.Responses()[0]);
  EXPECT_EQ(cla.cluster_name(), "web.prod.svc.cluster.local:grpc");
  ASSERT_EQ(cla.endpoints_size(), 2);
  for (int i = 0; i < 2; ++i) {
    const auto& locality = cla.endpoints(i);
    const std::string zone = i == 0 ? "zone-a" : "zone-b";
    EXPECT_EQ(locality.locality().zone(), zone);
    EXPECT_EQ(locality.lb_endpoints_size(), 0);
    ASSERT_TRUE(locality.has_leds_cluster_locality_config());
    const auto& config = locality.leds_cluster_locality_config();
    EXPECT_TRUE(config.leds_config().has_ads());
    EXPECT_EQ(config.leds_config().resource_api_version(), envoy::config::core::v3::V3);
    EXPECT_EQ(config.leds_collection_name(), Collection(zone));
    EXPECT_EQ(locality.load_balancing_weight().value(), i == 0 ? 3u : 1u);
  }
  const std::vector<std::string> inline_endpoints = {
      "zone-a w3: 10.0.0.1:9000/HEALTHY 10.0.0.2:9000/HEALTHY 10.0.0.3:9000/HEALTHY",
      "zone-b w1: 10.0.1.1:9000/HEALTHY"};
  EXPECT_EQ(Describe(ClaOf(plain.Responses()[0])), inline_endpoints);
  Cla sotw_cla;
  ASSERT_EQ(sotw.Responses()[0].resources_size(), 1);
  ASSERT_TRUE(sotw.Responses()[0].resources(0).UnpackTo(&sotw_cla));
  EXPECT_EQ(Describe(sotw_cla), inline_endpoints);
}

// Subscribing to a zone's collection brings every endpoint of that zone, one resource each at the
// revision of its last change; a ready flip then sends exactly that one LbEndpoint (the CLA does
// not change), and a removal is that endpoint's name in removed_resources (with the CLA, whose
// zone weight dropped, before it).
TEST_F(LedsTest, GlobSubscribeFlipAndRemove) {
  const int64_t filled = Fill();
  DeltaStream s(stub_.get());
  s.Send(OptIn(Delta(ResourceType::kEndpoint, {"web.prod:grpc"})));
  ASSERT_TRUE(s.Await(Count(1), kWait));
  s.Send(Delta(ResourceType::kLbEndpoint, {Collection("zone-a")}));
  ASSERT_TRUE(s.Await(Count(2), kWait));
  const DeltaResponse initial = s.Responses()[1];
  EXPECT_THAT(Members(initial),
              ElementsAre(At("zone-a", "10.0.0.1", filled), At("zone-a", "10.0.0.2", filled),
                          At("zone-a", "10.0.0.3", filled)));
  EXPECT_THAT(initial.removed_resources(), IsEmpty());
  EXPECT_TRUE(AwaitMetric("slicekeeper_xds_resources_sent_total{type=\"leds\"} 3"));

  const int64_t flipped = Apply({Change("web", {.address = "10.0.0.2", .ready = false})});
  ASSERT_TRUE(s.Await(Count(3), kWait));
  EXPECT_THAT(Members(s.Responses()[2]),
              ElementsAre(At("zone-a", "10.0.0.2", flipped, "UNHEALTHY")));
  EXPECT_EQ(s.Responses()[2].system_version_info(), std::to_string(flipped));

  Apply({Change("web", {.address = "10.0.0.3"}, v1::EndpointChange::REMOVE)});
  ASSERT_TRUE(s.Await(Count(5), kWait));
  const std::vector<DeltaResponse> rs = s.Responses();
  ASSERT_EQ(rs.size(), 5u) << "the flip moved the CLA";
  EXPECT_EQ(rs[3].type_url(), TypeUrl(ResourceType::kEndpoint));
  EXPECT_EQ(ClaOf(rs[3]).endpoints(0).load_balancing_weight().value(), 2u);
  EXPECT_EQ(rs[4].type_url(), TypeUrl(ResourceType::kLbEndpoint));
  EXPECT_EQ(rs[4].resources_size(), 0);
  EXPECT_THAT(rs[4].removed_resources(), ElementsAre(Member("zone-a", "10.0.0.3")));
}

// A reconnect with initial_resource_versions: unchanged endpoints are not resent, a changed one
// is, one that left is removed, and a held endpoint of a collection no longer subscribed to is
// removed too.
TEST_F(LedsTest, ReconnectSendsOnlyWhatChanged) {
  Fill();
  google::protobuf::Map<std::string, std::string> held;
  {
    DeltaStream s(stub_.get());
    s.Send(Delta(ResourceType::kLbEndpoint, {Collection("zone-a"), Collection("zone-b")}));
    ASSERT_TRUE(s.Await(Count(1), kWait));
    const DeltaResponse first = s.Responses()[0];
    for (const auto& r : first.resources()) held[r.name()] = r.version();
    ASSERT_EQ(held.size(), 4u);
  }
  const int64_t flipped =
      Apply({Change("web", {.address = "10.0.0.1", .ready = false}),
             Change("web", {.address = "10.0.0.3"}, v1::EndpointChange::REMOVE)});
  DeltaStream s(stub_.get());
  DeltaRequest again = Delta(ResourceType::kLbEndpoint, {Collection("zone-a")});
  *again.mutable_initial_resource_versions() = held;
  s.Send(again);
  ASSERT_TRUE(s.Await(Count(1), kWait));
  EXPECT_THAT(Members(s.Responses()[0]),
              ElementsAre(At("zone-a", "10.0.0.1", flipped, "UNHEALTHY")));
  EXPECT_THAT(s.Responses()[0].removed_resources(),
              UnorderedElementsAre(Member("zone-a", "10.0.0.3"), Member("zone-b", "10.0.1.1")));
}

// What does not exist is said so: a collection of a zone without endpoints, of an unknown
// service, or a malformed name (LEDS has no "*" wildcard) is named in removed_resources, and the
// empty collection fills when an endpoint joins the zone. State of the world cannot carry LEDS:
// such a request ends the stream with INVALID_ARGUMENT saying so.
TEST_F(LedsTest, AbsentCollectionsAndStateOfTheWorld) {
  Fill();
  DeltaStream s(stub_.get());
  const std::string unknown =
      "xdstp://slicekeeper/envoy.config.endpoint.v3.LbEndpoint/db.prod%3Agrpc/zone-a/*";
  s.Send(Delta(ResourceType::kLbEndpoint,
               {Collection("zone-c"), unknown, "*", Member("zone-a", "10.0.0.1")}));
  ASSERT_TRUE(s.Await(Count(1), kWait));
  EXPECT_THAT(s.Responses()[0].resources(), IsEmpty());
  EXPECT_THAT(
      s.Responses()[0].removed_resources(),
      UnorderedElementsAre(Collection("zone-c"), unknown, "*", Member("zone-a", "10.0.0.1")));
  const int64_t added = Apply({Change("web", {.address = "10.0.2.1", .zone = "zone-c"})});
  ASSERT_TRUE(s.Await(Count(2), kWait));
  EXPECT_THAT(Members(s.Responses()[1]), ElementsAre(At("zone-c", "10.0.2.1", added)));

  SotwStream sotw(stub_.get());
  sotw.Send(Sotw(ResourceType::kLbEndpoint, {Collection("zone-a")}));
  grpc::Status status;
  ASSERT_TRUE(sotw.AwaitDone(kWait, &status));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("LEDS"));
  EXPECT_THAT(status.error_message(), HasSubstr("incremental"));
}

}  // namespace
}  // namespace slicekeeper::xds::testing
