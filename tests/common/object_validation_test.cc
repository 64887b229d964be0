// Tests of ValidateEndpointSlice, ValidateEndpoint, ValidatePorts, ValidateServiceRecord and
// ValidateNode: metadata rules, limits, paths and exact error counts.
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/validation.h"
#include "tests/test_util.h"

namespace slicekeeper::validation {
namespace {

using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;

size_t CountViolations(absl::string_view message) {
  if (message.empty()) return 0;
  size_t n = 1;
  for (size_t p = message.find("; "); p != absl::string_view::npos; p = message.find("; ", p + 2)) {
    ++n;
  }
  return n;
}

v1::EndpointSlice ValidSlice() {
  v1::EndpointSlice s;
  s.mutable_metadata()->set_name("web-abcde");
  s.mutable_metadata()->set_namespace_("default");
  (*s.mutable_metadata()->mutable_labels())["kubernetes.io/service-name"] = "web";
  s.set_address_type("IPv4");
  for (int i = 0; i < 3; ++i) s.add_endpoints()->add_addresses(absl::StrCat("10.0.0.", i + 1));
  s.add_ports()->set_name("http");
  return s;
}

struct SliceCase {
  const char* name;
  std::function<void(v1::EndpointSlice&)> mutate;
  const char* want;  // "" = valid.
};

// An EndpointSlice with every field empty has exactly the 3 errors Kubernetes' test expects.
TEST(ValidateEndpointSliceTest, EmptySliceHasThreeErrors) {
  absl::Status s = ValidateEndpointSlice(v1::EndpointSlice(), "slice");
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CountViolations(s.message()), 3u) << s.message();
  EXPECT_THAT(std::string(s.message()), HasSubstr("slice.metadata.name: required"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("slice.metadata.namespace: required"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("slice.addressType: required"));
}

// Metadata, addressType, endpoint limits and port rules of a whole slice, with their paths.
TEST(ValidateEndpointSliceTest, Rules) {
  auto label = [](std::string k, std::string v) {
    return [k, v](v1::EndpointSlice& s) { (*s.mutable_metadata()->mutable_labels())[k] = v; };
  };
  auto annotation = [](std::string k) {
    return [k](v1::EndpointSlice& s) { (*s.mutable_metadata()->mutable_annotations())[k] = "x"; };
  };
  auto endpoints = [](int n) {
    return [n](v1::EndpointSlice& s) {
      s.clear_endpoints();
      for (int i = 0; i < n; ++i) {
        s.add_endpoints()->add_addresses(absl::StrCat("10.0.", i / 200, ".", i % 200 + 1));
      }
    };
  };
  const std::vector<SliceCase> cases = {
      {"valid", [](auto&) {}, ""},
      {"name bad", [](auto& s) { s.mutable_metadata()->set_name("Web"); },
       "slice.metadata.name: must be a DNS-1123 subdomain"},
      {"generateName only",
       [](auto& s) {
         s.mutable_metadata()->clear_name();
         s.mutable_metadata()->set_generate_name("web-");
       },
       ""},
      {"generateName bad", [](auto& s) { s.mutable_metadata()->set_generate_name("Web-"); },
       "slice.metadata.generateName: must be a DNS-1123 subdomain prefix"},
      {"namespace bad", [](auto& s) { s.mutable_metadata()->set_namespace_("a.b"); },
       "slice.metadata.namespace: must be a DNS-1123 label"},
      {"label prefixed key", label("example.com/Tier", "Front_end"), ""},
      {"label bad key", label("a/b/c", "v"),
       "slice.metadata.labels[a/b/c]: key must be a qualified"},
      {"label bad value", label("tier", "not valid!"),
       "slice.metadata.labels[tier]: value must be a valid label value"},
      {"annotation upper key", annotation("Example.com/Note"), ""},
      {"annotation bad key", annotation("bad key"),
       "slice.metadata.annotations[bad key]: key must be a qualified name"},
      {"annotations too big",
       [](auto& s) {
         (*s.mutable_metadata()->mutable_annotations())["a"] = std::string(262144, 'x');
       },
       "slice.metadata.annotations: may not exceed 262144 bytes"},
      {"addressType bad", [](auto& s) { s.set_address_type("IP"); },
       "slice.addressType: must be IPv4, IPv6 or FQDN"},
      {"1000 endpoints", endpoints(1000), ""},
      {"1001 endpoints", endpoints(1001), "slice.endpoints: must have at most 1000 items"},
      {"no endpoints", endpoints(0), ""},
      {"endpoint address", [](auto& s) { s.mutable_endpoints(1)->set_addresses(0, "10.0.0.256"); },
       "slice.endpoints[1].addresses[0]: must be a valid IPv4 address"},
      {"endpoint hint",
       [](auto& s) { s.mutable_endpoints(2)->mutable_hints()->add_for_zones()->set_name("-a"); },
       "slice.endpoints[2].hints.forZones[0].name: must be a valid label value"},
      {"port duplicate", [](auto& s) { s.add_ports()->set_name("http"); },
       "slice.ports[1].name: duplicate value"},
      {"no ports", [](auto& s) { s.clear_ports(); }, ""},
  };
  for (const SliceCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    v1::EndpointSlice s = ValidSlice();
    tc.mutate(s);
    if (std::string(tc.want).empty()) {
      EXPECT_OK(ValidateEndpointSlice(s, "slice"));
    } else {
      EXPECT_THAT(ValidateEndpointSlice(s, "slice"),
                  StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(tc.want)));
    }
  }
}

// Unknown address types are reported once and their addresses are not checked.
TEST(ValidateEndpointSliceTest, UnknownTypeSkipsAddresses) {
  v1::EndpointSlice s = ValidSlice();
  s.set_address_type("IP");
  s.mutable_endpoints(0)->set_addresses(0, "not an address");
  absl::Status st = ValidateEndpointSlice(s, "slice");
  EXPECT_EQ(CountViolations(st.message()), 1u) << st.message();
}

// An empty prefix gives bare field paths; every violation of an endpoint is reported.
TEST(ValidateEndpointTest, EmptyPrefixAndAllErrors) {
  v1::Endpoint e;
  e.set_hostname("A");
  e.set_node_name("B");
  absl::Status s = ValidateEndpoint(e, "IPv4", "");
  EXPECT_EQ(s.message(),
            "addresses: must contain at least 1 address; hostname: must be a DNS-1123 label; "
            "nodeName: must be a DNS-1123 subdomain");
  e.add_addresses("not-an-ip");
  e.clear_hostname();
  e.clear_node_name();
  EXPECT_OK(ValidateEndpoint(e, "Unknown", "endpoints[0]"));
}

// ValidatePorts checks a vector of ports the same way as a change's ports.
TEST(ValidatePortsTest, Span) {
  std::vector<v1::EndpointPort> ports(2);
  ports[0].set_port(80);
  ports[1].set_port(81);
  EXPECT_THAT(ValidatePorts(ports, "ports"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ports[1].name: duplicate")));
  ports[1].set_name("b");
  EXPECT_OK(ValidatePorts(ports, "ports"));
}

// Service records: names, address types, trafficDistribution and topologyMode values, and the
// distribution annotations.
TEST(ValidateServiceRecordTest, Rules) {
  v1::ServiceRecord r;
  r.set_namespace_("default");
  r.set_name("web");
  r.add_address_types("IPv6");
  r.add_address_types("IPv4");
  r.set_traffic_distribution("PreferSameNode");
  r.set_topology_mode("auto");
  (*r.mutable_annotations())[kAnnotationDistribution] = "packed";
  (*r.mutable_annotations())[kAnnotationPackedSameZone] = "true";
  EXPECT_OK(ValidateServiceRecord(r, "service"));
  const std::vector<std::pair<std::function<void(v1::ServiceRecord&)>, const char*>> bad = {
      {[](auto& x) { x.set_name(""); }, "service.name: required"},
      {[](auto& x) { x.set_namespace_("Default"); }, "service.namespace: must be a DNS-1123 label"},
      {[](auto& x) { x.set_address_types(1, "IPv6"); }, "service.addressTypes[1]: duplicate value"},
      {[](auto& x) { x.set_address_types(0, "FQDN"); }, "service.addressTypes[0]: must be IPv4 or"},
      {[](auto& x) { x.set_traffic_distribution("Closest"); }, "service.trafficDistribution: must"},
      {[](auto& x) { x.set_topology_mode("On"); }, "service.topologyMode: must be"},
      {[](auto& x) { (*x.mutable_labels())["a b"] = ""; }, "service.labels[a b]: key must be"},
      {[](auto& x) { (*x.mutable_annotations())[kAnnotationDistribution] = "Packed"; },
       "service.annotations[slicekeeper.io/distribution]: must be kubernetes or packed"},
      {[](auto& x) { (*x.mutable_annotations())[kAnnotationPackedSameZone] = "yes"; },
       "service.annotations[slicekeeper.io/packed-same-zone]: must be true or false"},
  };
  for (const auto& [mutate, want] : bad) {
    v1::ServiceRecord copy = r;
    mutate(copy);
    EXPECT_THAT(ValidateServiceRecord(copy, "service"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(want)));
  }
}

// Nodes: subdomain name, label-value zone, non-negative CPU.
TEST(ValidateNodeTest, Rules) {
  v1::Node n;
  n.set_name("node-1.example");
  n.set_zone("us-west2-a");
  n.set_cpu_millis(4000);
  EXPECT_OK(ValidateNode(n, "nodes[0]"));
  n.set_zone("");
  EXPECT_OK(ValidateNode(n, "nodes[0]"));
  n.set_name("Node");
  n.set_zone("bad zone");
  n.set_cpu_millis(-1);
  absl::Status s = ValidateNode(n, "nodes[0]");
  EXPECT_EQ(s.message(),
            "nodes[0].name: must be a DNS-1123 subdomain; nodes[0].zone: must be a valid label "
            "value; nodes[0].cpuMillis: must be >= 0");
}

}  // namespace
}  // namespace slicekeeper::validation
