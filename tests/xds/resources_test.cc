// The resources built from slices (server/xds/resources.h) and their shared cache
// (resource_cache.h), over a real store.
#include <string>
#include <vector>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint_components.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "gmock/gmock.h"
#include "tests/xds/xds_fixture.h"

namespace slicekeeper::xds {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
using Cla = envoy::config::endpoint::v3::ClusterLoadAssignment;
class ResourcesTest : public testing::XdsFixture {};
using testing::Ep;

// EDS: one locality per zone weighted by its ready endpoints (at least 1), each endpoint weighted
// 1; ready -> HEALTHY, serving+terminating -> DRAINING, otherwise UNHEALTHY.
TEST_F(ResourcesTest, EndpointsByZoneWithHealth) {
  Apply(
      {Change("web", {.address = "10.0.0.1"}), Change("web", {.address = "10.0.0.2"}),
       Change("web",
              {.address = "10.0.1.1", .zone = "zone-b", .ready = false, .terminating = true}),
       Change("web", {.address = "10.0.1.2", .zone = "zone-b", .ready = false, .serving = false})});
  Cla cla = Parse<Cla>(Get(ResourceType::kEndpoint, "web.prod:grpc"));
  EXPECT_EQ(cla.cluster_name(), "web.prod:grpc");
  EXPECT_THAT(Describe(cla),
              ElementsAre("zone-a w2: 10.0.0.1:9000/HEALTHY 10.0.0.2:9000/HEALTHY",
                          "zone-b w1: 10.0.1.1:9000/DRAINING 10.0.1.2:9000/UNHEALTHY"));
  EXPECT_EQ(cla.endpoints(0).lb_endpoints(0).load_balancing_weight().value(), 1u);
}

// A port is chosen by name or number; without one the service must have a single port, else
// the name does not exist. A port no endpoint has gives an empty (existing) assignment.
TEST_F(ResourcesTest, PortSelection) {
  Apply({Change("web", {.address = "10.0.0.1", .ports = {{"grpc", 9000}, {"http", 8080}}}),
         Change("single", {.address = "10.0.0.9"})});
  EXPECT_EQ(Get(ResourceType::kEndpoint, "web.prod"), nullptr);
  EXPECT_EQ(Get(ResourceType::kListener, "web.prod"), nullptr);
  EXPECT_THAT(Describe(Parse<Cla>(Get(ResourceType::kEndpoint, "web.prod:http"))),
              ElementsAre("zone-a w1: 10.0.0.1:8080/HEALTHY"));
  EXPECT_THAT(Describe(Parse<Cla>(Get(ResourceType::kEndpoint, "web.prod.svc:9000"))),
              ElementsAre("zone-a w1: 10.0.0.1:9000/HEALTHY"));
  EXPECT_TRUE(Parse<Cla>(Get(ResourceType::kEndpoint, "web.prod:nope")).endpoints().empty());
  EXPECT_THAT(Describe(Parse<Cla>(Get(ResourceType::kEndpoint, "single.prod"))),
              ElementsAre("zone-a w1: 10.0.0.9:9000/HEALTHY"));
  EXPECT_EQ(Get(ResourceType::kEndpoint, "absent.prod"), nullptr);
  EXPECT_THAT(cache_.WildcardNames(store_.GetService("prod", "web")),
              ElementsAre("web.prod:grpc", "web.prod:http"));
  EXPECT_THAT(cache_.WildcardNames(store_.GetService("prod", "single")),
              ElementsAre("single.prod"));
}

// Topology hints (PreferClose): a client in zone-a gets only zone-a's hinted endpoints; a client
// in a zone nothing is hinted for, or without a zone, gets all; once a ready endpoint lacks a
// hint (no zone), hints are ignored for everyone (kube-proxy's rule).
TEST_F(ResourcesTest, HintsPerClientZone) {
  SetTrafficDistribution("web", "PreferClose");
  Apply({Change("web", {.address = "10.0.0.1"}),
         Change("web", {.address = "10.0.1.1", .zone = "zone-b"})});
  auto addresses = [&](const std::string& zone) {
    return Describe(Parse<Cla>(Get(ResourceType::kEndpoint, "web.prod:grpc", {.zone = zone})));
  };
  EXPECT_THAT(addresses("zone-a"), ElementsAre("zone-a w1: 10.0.0.1:9000/HEALTHY"));
  EXPECT_THAT(addresses("zone-b"), ElementsAre("zone-b w1: 10.0.1.1:9000/HEALTHY"));
  EXPECT_EQ(addresses("zone-c").size(), 2u);
  EXPECT_EQ(addresses("").size(), 2u);
  Apply({Change("web", {.address = "10.0.2.1", .zone = ""})});
  EXPECT_EQ(addresses("zone-a").size(), 3u);
}

// Dual stack: the service's first address type is its family; a client asking for dual stack
// gets the other family's address of the same pod as an additional address.
TEST_F(ResourcesTest, DualStackAdditionalAddresses) {
  SetTrafficDistribution("web", "", {"IPv6", "IPv4"});
  Apply({Change("web", {.address = "10.0.0.1", .pod = "p1"}),
         Change("web", {.address = "fd00::1", .pod = "p1"}),
         Change("web", {.address = "fd00::2", .pod = "p2"})});
  EXPECT_THAT(Describe(Parse<Cla>(Get(ResourceType::kEndpoint, "web.prod:grpc"))),
              ElementsAre("zone-a w2: fd00::1:9000/HEALTHY fd00::2:9000/HEALTHY"));
  EXPECT_THAT(
      Describe(Parse<Cla>(Get(ResourceType::kEndpoint, "web.prod:grpc", {.dual_stack = true}))),
      ElementsAre("zone-a w2: fd00::1:9000/HEALTHY+10.0.0.1 fd00::2:9000/HEALTHY"));
}

// A LEDS collection is its zone's endpoints as the client sees them (topology hints included),
// one LbEndpoint each named by address; one endpoint's change gives only it a new version.
TEST_F(ResourcesTest, LedsCollections) {
  SetTrafficDistribution("web", "PreferClose");
  const int64_t r1 =
      Apply({Change("web", {.address = "10.0.0.1"}), Change("web", {.address = "10.0.0.2"}),
             Change("web", {.address = "10.0.1.1", .zone = "zone-b"})});
  auto members = [&](const std::string& zone, const ClientInfo& client) {
    const std::string name = LedsCollectionName(ServiceName{"prod", "web", "grpc"}, zone);
    absl::StatusOr<LedsCollection> parsed = ParseLedsCollection(name);
    EXPECT_OK(parsed);
    std::vector<std::string> out;
    CollectionPtr c = cache_.GetCollection(name, *parsed, client, Version("web"));
    if (c == nullptr) return std::vector<std::string>{"absent"};
    for (const auto& [member, resource] : c->members) {
      envoy::config::endpoint::v3::LbEndpoint lb;
      EXPECT_TRUE(lb.ParseFromString(resource->bytes));
      out.push_back(member.substr(name.size() - 1) + "@" + resource->version + "/" +
                    envoy::config::core::v3::HealthStatus_Name(lb.health_status()));
    }
    return out;
  };
  const std::string v1 = std::to_string(r1);
  EXPECT_THAT(members("zone-a", {}),
              ElementsAre("10.0.0.1@" + v1 + "/HEALTHY", "10.0.0.2@" + v1 + "/HEALTHY"));
  EXPECT_THAT(members("zone-b", {.zone = "zone-a"}), ElementsAre());  // hinted to zone-b only
  EXPECT_THAT(members("zone-b", {.zone = "zone-b"}), ElementsAre("10.0.1.1@" + v1 + "/HEALTHY"));
  const int64_t r2 = Apply({Change("web", {.address = "10.0.0.2", .ready = false})});
  EXPECT_THAT(members("zone-a", {}), ElementsAre("10.0.0.1@" + v1 + "/HEALTHY",
                                                 "10.0.0.2@" + std::to_string(r2) + "/UNHEALTHY"));
  const std::string other = LedsCollectionName(ServiceName{"prod", "db", "grpc"}, "zone-a");
  EXPECT_EQ(cache_.GetCollection(other, *ParseLedsCollection(other), {}, Version("db")), nullptr);
}

// A locality's region comes from the nodes' topology.kubernetes.io/region label.
TEST_F(ResourcesTest, RegionFromNodes) {
  v1::Node node;
  node.set_name("n1");
  node.set_zone("zone-a");
  node.set_cpu_millis(1000);
  node.set_ready(true);
  (*node.mutable_labels())["topology.kubernetes.io/region"] = "region-1";
  ASSERT_OK(store_.PutNodes({node}));
  Apply({Change("web", {.address = "10.0.0.1"})});
  Cla cla = Parse<Cla>(Get(ResourceType::kEndpoint, "web.prod:grpc"));
  ASSERT_EQ(cla.endpoints_size(), 1);
  EXPECT_EQ(cla.endpoints(0).locality().region(), "region-1");
  EXPECT_EQ(cla.endpoints(0).locality().zone(), "zone-a");
}

// LDS: an ApiListener named as asked, whose connection manager routes every request to the
// canonical cluster and ends with the router filter; RDS the same route configuration.
TEST_F(ResourcesTest, ListenerAndRoute) {
  namespace hcm = envoy::extensions::filters::network::http_connection_manager::v3;
  Apply({Change("web", {.address = "10.0.0.1"})});
  auto listener = Parse<envoy::config::listener::v3::Listener>(
      Get(ResourceType::kListener, "web.prod.svc.cluster.local:grpc"));
  EXPECT_EQ(listener.name(), "web.prod.svc.cluster.local:grpc");
  hcm::HttpConnectionManager manager;
  ASSERT_TRUE(listener.api_listener().api_listener().UnpackTo(&manager));
  ASSERT_EQ(manager.http_filters_size(), 1);
  EXPECT_TRUE(manager.http_filters(0)
                  .typed_config()
                  .Is<envoy::extensions::filters::http::router::v3::Router>());
  const auto& host = manager.route_config().virtual_hosts(0);
  EXPECT_THAT(host.domains(), ElementsAre("*"));
  EXPECT_EQ(host.routes(0).match().prefix(), "");
  EXPECT_EQ(host.routes(0).route().cluster(), "web.prod:grpc");
  auto route = Parse<envoy::config::route::v3::RouteConfiguration>(
      Get(ResourceType::kRoute, "web.prod.svc:grpc"));
  EXPECT_EQ(route.name(), "web.prod.svc:grpc");
  EXPECT_EQ(route.virtual_hosts(0).routes(0).route().cluster(), "web.prod:grpc");
}

// CDS: an EDS cluster over ADS whose EDS service is the canonical name, round robin.
TEST_F(ResourcesTest, Cluster) {
  namespace cluster = envoy::config::cluster::v3;
  Apply({Change("web", {.address = "10.0.0.1"})});
  auto c = Parse<cluster::Cluster>(Get(ResourceType::kCluster, "web.prod.svc:grpc"));
  EXPECT_EQ(c.name(), "web.prod.svc:grpc");
  EXPECT_EQ(c.type(), cluster::Cluster::EDS);
  EXPECT_EQ(c.eds_cluster_config().service_name(), "web.prod:grpc");
  EXPECT_TRUE(c.eds_cluster_config().eds_config().has_ads());
  EXPECT_EQ(c.lb_policy(), cluster::Cluster::ROUND_ROBIN);
}

// A resource's version is the revision its content last changed at: a change elsewhere in the
// service (another zone, for a hinted client) keeps it; a change to it moves it. One build per
// service version and key, however many ask.
TEST_F(ResourcesTest, VersionsFollowContent) {
  SetTrafficDistribution("web", "PreferClose");
  int64_t first = Apply({Change("web", {.address = "10.0.0.1"}),
                         Change("web", {.address = "10.0.1.1", .zone = "zone-b"})});
  ResourcePtr a1 = Get(ResourceType::kEndpoint, "web.prod:grpc", {.zone = "zone-a"});
  EXPECT_EQ(a1->version, std::to_string(first));
  const int64_t builds = cache_.builds();
  EXPECT_EQ(Get(ResourceType::kEndpoint, "web.prod:grpc", {.zone = "zone-a"}), a1);
  EXPECT_EQ(cache_.builds(), builds);
  int64_t second = Apply({Change("web", {.address = "10.0.1.2", .zone = "zone-b"})});
  EXPECT_EQ(Get(ResourceType::kEndpoint, "web.prod:grpc", {.zone = "zone-a"})->version,
            std::to_string(first));
  EXPECT_EQ(Get(ResourceType::kEndpoint, "web.prod:grpc", {.zone = "zone-b"})->version,
            std::to_string(second));
  EXPECT_EQ(Get(ResourceType::kListener, "web.prod:grpc")->version,
            Get(ResourceType::kListener, "web.prod:grpc")->version);
  int64_t third = Apply({Change("web", {.address = "10.0.0.1", .ready = false})});
  EXPECT_EQ(Get(ResourceType::kEndpoint, "web.prod:grpc", {.zone = "zone-a"})->version,
            std::to_string(third));
}

}  // namespace
}  // namespace slicekeeper::xds
