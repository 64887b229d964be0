// Resource names and type URLs (server/xds/names.h).
#include "server/xds/names.h"

#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace slicekeeper::xds {
namespace {

using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;

// Every Kubernetes DNS spelling of a service parses to the same service, namespace and port,
// and to one canonical name.
TEST(ParseNameTest, KubernetesSpellings) {
  for (const char* name :
       {"web.prod:grpc", "web.prod.svc:grpc", "web.prod.svc.cluster.local:grpc"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<ServiceName> n = ParseName(name);
    ASSERT_OK(n);
    EXPECT_EQ(n->service, "web");
    EXPECT_EQ(n->namespace_, "prod");
    EXPECT_EQ(n->port, "grpc");
    EXPECT_EQ(n->Canonical(), "web.prod:grpc");
    EXPECT_EQ(n->Key(), "prod/web");
  }
  absl::StatusOr<ServiceName> bare = ParseName("web.prod");
  ASSERT_OK(bare);
  EXPECT_EQ(bare->port, "");
  EXPECT_EQ(bare->Canonical(), "web.prod");
  absl::StatusOr<ServiceName> numbered = ParseName("web.prod.svc.cluster.local:8080");
  ASSERT_OK(numbered);
  EXPECT_EQ(numbered->Canonical(), "web.prod:8080");
}

// Anything else is INVALID_ARGUMENT naming the name: never a crash, never a guess.
TEST(ParseNameTest, RejectsOtherForms) {
  for (const char* name :
       {"", "*", "web", "web.prod.svc.cluster", "web.prod.cluster.local",
        "web.prod.svc.other.local", "Web.prod", "web.pr_od", "web..prod", "web.prod.",
        "web.prod:", "web.prod:0", "web.prod:65536", "web.prod:Grpc", "web.prod:-x",
        "xdstp://authority/type/web.prod", "a.b.c.d.e.f", ":grpc"}) {
    SCOPED_TRACE(name);
    EXPECT_THAT(ParseName(name),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("resource name")));
  }
}

// The five v3 type URLs round-trip; v2 and other types are not served.
TEST(TypeUrlTest, V3Only) {
  for (ResourceType t : {ResourceType::kListener, ResourceType::kRoute, ResourceType::kCluster,
                         ResourceType::kEndpoint, ResourceType::kLbEndpoint}) {
    EXPECT_EQ(TypeFromUrl(TypeUrl(t)), t);
  }
  EXPECT_EQ(TypeUrl(ResourceType::kEndpoint),
            "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment");
  EXPECT_FALSE(TypeFromUrl("type.googleapis.com/envoy.api.v2.ClusterLoadAssignment").has_value());
  EXPECT_FALSE(TypeFromUrl("type.googleapis.com/envoy.config.core.v3.Secret").has_value());
  EXPECT_FALSE(TypeFromUrl("").has_value());
  EXPECT_EQ(ShortName(ResourceType::kRoute), "rds");
}

// LEDS names: one glob collection per (canonical name, zone), members named by address,
// percent-encoded as Envoy encodes xdstp ids; a client's authority and context parameters are
// kept on every member.
TEST(LedsNamesTest, CollectionsAndMembers) {
  const std::string name = LedsCollectionName(ServiceName{"prod", "web", "grpc"}, "zone-a");
  EXPECT_EQ(name,
            "xdstp://slicekeeper/envoy.config.endpoint.v3.LbEndpoint/web.prod%3Agrpc/zone-a/*");
  absl::StatusOr<LedsCollection> c = ParseLedsCollection(name);
  ASSERT_OK(c);
  EXPECT_EQ(c->service.Canonical(), "web.prod:grpc");
  EXPECT_EQ(c->zone, "zone-a");
  EXPECT_EQ(LedsEndpointName(*c, "fd00::1"),
            "xdstp://slicekeeper/envoy.config.endpoint.v3.LbEndpoint/web.prod%3Agrpc/zone-a/"
            "fd00%3A%3A1");
  EXPECT_EQ(LedsCollectionOf(LedsEndpointName(*c, "fd00::1")), name);

  const std::string no_zone = LedsCollectionName(ServiceName{"prod", "web", ""}, "");
  EXPECT_EQ(no_zone, "xdstp://slicekeeper/envoy.config.endpoint.v3.LbEndpoint/web.prod/_/*");
  absl::StatusOr<LedsCollection> other =
      ParseLedsCollection("xdstp://edge/envoy.config.endpoint.v3.LbEndpoint/web.prod/_/*?id=e1");
  ASSERT_OK(other);
  EXPECT_EQ(other->zone, "");
  const std::string member = LedsEndpointName(*other, "10.0.0.1");
  EXPECT_EQ(member, "xdstp://edge/envoy.config.endpoint.v3.LbEndpoint/web.prod/_/10.0.0.1?id=e1");
  EXPECT_EQ(LedsCollectionOf(member),
            "xdstp://edge/envoy.config.endpoint.v3.LbEndpoint/web.prod/_/*?id=e1");
  EXPECT_FALSE(LedsCollectionOf("web.prod:grpc").has_value());
}

TEST(LedsNamesTest, RejectsOtherForms) {
  const std::string base = "xdstp://slicekeeper/envoy.config.endpoint.v3.LbEndpoint/";
  for (const std::string& name :
       {std::string("web.prod"), std::string("*"), base + "web.prod/zone-a/10.0.0.1",
        base + "web.prod/*", base + "web.prod.svc/zone-a/*", base + "web.prod%3A/zone-a/*",
        base + "web.prod/zone%G1/*", base + "web.prod/zone-a/*#alt=x",
        std::string("xdstp://slicekeeper/envoy.config.endpoint.v3.ClusterLoadAssignment/web.prod/"
                    "zone-a/*")}) {
    SCOPED_TRACE(name);
    EXPECT_THAT(ParseLedsCollection(name),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("LEDS collection")));
  }
}

}  // namespace
}  // namespace slicekeeper::xds
