// Tests of common/validation.h: every docs/kubernetes-behaviour.md §2 rule with a valid and an
// invalid case, field paths and rule texts in the messages, canonical forms, and the error cap.
#include "common/validation.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/test_util.h"

namespace slicekeeper::validation {
namespace {

using ::slicekeeper::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Counts the violations listed in a message ("a; b; c" -> 3).
size_t CountViolations(absl::string_view message) {
  if (message.empty()) return 0;
  size_t n = 1;
  for (size_t pos = message.find("; "); pos != absl::string_view::npos;
       pos = message.find("; ", pos + 2)) {
    ++n;
  }
  return n;
}

v1::EndpointChange ValidChange() {
  v1::EndpointChange c;
  c.set_op(v1::EndpointChange::UPSERT);
  c.set_namespace_("default");
  c.set_service("web");
  v1::Endpoint* e = c.mutable_endpoint();
  e->add_addresses("10.1.2.3");
  e->set_hostname("pod-1");
  e->set_node_name("node-1.example");
  e->set_zone("us-west2-a");
  v1::EndpointPort* p = c.add_ports();
  p->set_name("http");
  p->set_port(80);
  return c;
}

struct ChangeCase {
  const char* name;
  std::function<void(v1::EndpointChange&)> mutate;
  // "" when the change is valid, else "<path>: <rule>" expected in the message.
  const char* want;
};

void SetAddress(v1::EndpointChange& c, const char* type, const char* address) {
  c.set_address_type(type);
  c.mutable_endpoint()->clear_addresses();
  c.mutable_endpoint()->add_addresses(address);
}

void RunChangeCases(const std::vector<ChangeCase>& cases) {
  for (const ChangeCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    v1::EndpointChange c = ValidChange();
    tc.mutate(c);
    absl::StatusOr<EndpointDelta> got = NormalizeChange(c, "changes[3]");
    if (std::string(tc.want).empty()) {
      EXPECT_OK(got);
    } else {
      EXPECT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(tc.want)));
    }
  }
}

// Change identity fields: op, namespace, service and address type, valid and invalid.
TEST(NormalizeChangeTest, ChangeFields) {
  RunChangeCases({
      {"valid", [](auto&) {}, ""},
      {"op unset", [](auto& c) { c.set_op(v1::EndpointChange::OP_UNSPECIFIED); },
       "changes[3].op: must be UPSERT or REMOVE"},
      {"namespace empty", [](auto& c) { c.set_namespace_(""); }, "changes[3].namespace: required"},
      {"namespace bad", [](auto& c) { c.set_namespace_("Default"); },
       "changes[3].namespace: must be a DNS-1123 label"},
      {"service bad", [](auto& c) { c.set_service("web.svc"); },
       "changes[3].service: must be a DNS-1123 label"},
      {"service empty", [](auto& c) { c.set_service(""); }, "changes[3].service: required"},
      {"type IPv4", [](auto& c) { c.set_address_type("IPv4"); }, ""},
      {"type legacy IP", [](auto& c) { c.set_address_type("IP"); },
       "changes[3].addressType: must be IPv4, IPv6 or FQDN"},
      {"inferred FQDN", [](auto& c) { SetAddress(c, "", "foo.example.com"); },
       "changes[3].endpoint.addresses[0]: must be a valid IP address"},
  });
}

// Address rules per type, including the rejected ranges and the FQDN examples of §2.
TEST(NormalizeChangeTest, Addresses) {
  auto addr = [](const char* type, const char* a) {
    return [type, a](v1::EndpointChange& c) { SetAddress(c, type, a); };
  };
  const char* kLoop = "may not be in the loopback range (127.0.0.0/8, ::1/128)";
  const char* kLinkLocal = "may not be in the link-local range (169.254.0.0/16, fe80::/10)";
  const char* kMulticast = "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)";
  const std::string a0 = "changes[3].endpoint.addresses[0]: ";
  const std::string v4 = a0 + "must be a valid IPv4 address";
  const std::string v6 = a0 + "must be a valid IPv6 address";
  const std::string fqdn = a0 + "must be a valid FQDN";
  const std::string unspec = a0 + "may not be unspecified";
  const std::string loop = a0 + kLoop, ll = a0 + kLinkLocal, mc = a0 + kMulticast;
  RunChangeCases({
      {"ipv4 leading zeros", addr("IPv4", "010.001.002.003"), ""},
      {"ipv4 short", addr("IPv4", "1.2.3"), v4.c_str()},
      {"ipv4 hex junk", addr("IPv4", "0x0a.1.2.3"), v4.c_str()},
      {"ipv4 octet > 255", addr("IPv4", "1.2.3.256"), v4.c_str()},
      {"ipv4 given ipv6", addr("IPv4", "fd00::1"), v4.c_str()},
      {"ipv6 valid", addr("IPv6", "fd00::1"), ""},
      {"ipv6 given ipv4", addr("IPv6", "10.1.2.3"), v6.c_str()},
      {"ipv6 v4-mapped", addr("IPv6", "::ffff:10.1.2.3"), v6.c_str()},
      {"ipv6 zone id", addr("IPv6", "fd00::1%eth0"), v6.c_str()},
      {"0.0.0.0", addr("IPv4", "0.0.0.0"), unspec.c_str()},
      {"::", addr("IPv6", "::"), unspec.c_str()},
      {"127.0.0.1", addr("IPv4", "127.0.0.1"), loop.c_str()},
      {"::1", addr("IPv6", "::1"), loop.c_str()},
      {"169.254.1.1", addr("IPv4", "169.254.1.1"), ll.c_str()},
      {"fe80::1", addr("IPv6", "fe80::1"), ll.c_str()},
      {"febf::1", addr("IPv6", "febf::1"), ll.c_str()},
      {"fec0::1 outside /10", addr("IPv6", "fec0::1"), ""},
      {"224.0.0.251", addr("IPv4", "224.0.0.251"), mc.c_str()},
      {"ff02::1", addr("IPv6", "ff02::1"), mc.c_str()},
      {"global multicast v4", addr("IPv4", "239.1.2.3"), ""},
      {"224.0.1.1", addr("IPv4", "224.0.1.1"), ""},
      {"global multicast v6", addr("IPv6", "ff05::1"), ""},
      {"fqdn", addr("FQDN", "foo.example.com"), ""},
      {"fqdn two labels", addr("FQDN", "example.com"), ""},
      {"fqdn trailing dot", addr("FQDN", "example.com."), ""},
      {"fqdn upper", addr("FQDN", "FOO.example.com"), fqdn.c_str()},
      {"fqdn wildcard", addr("FQDN", "*.example.com"), fqdn.c_str()},
      {"fqdn wildcard tld", addr("FQDN", "foo.*"), fqdn.c_str()},
      {"fqdn underscore", addr("FQDN", "under_score.example.com"), fqdn.c_str()},
      {"fqdn one label", addr("FQDN", "localhost"), fqdn.c_str()},
      {"fqdn label > 63", addr("FQDN", (std::string(64, 'a') + ".com").c_str()), fqdn.c_str()},
      {"no address", [](auto& c) { c.mutable_endpoint()->clear_addresses(); },
       "changes[3].endpoint.addresses: must contain at least 1 address"},
      {"100 addresses",
       [](auto& c) {
         for (int i = 0; i < 99; ++i)
           c.mutable_endpoint()->add_addresses(absl::StrCat("10.0.1.", i));
       },
       ""},
      {"101 addresses",
       [](auto& c) {
         for (int i = 0; i < 100; ++i)
           c.mutable_endpoint()->add_addresses(absl::StrCat("10.0.1.", i));
       },
       "changes[3].endpoint.addresses: must have at most 100 items"},
      {"second address of the other family",
       [](auto& c) { c.mutable_endpoint()->add_addresses("fd00::2"); },
       "changes[3].endpoint.addresses[1]: must be a valid IPv4 address"},
  });
}

// --allow_loopback_endpoints lifts exactly the loopback rule: 127.0.0.0/8 and ::1 pass, the other
// rejected ranges stay rejected, and turning it off restores Kubernetes' rule.
TEST(NormalizeChangeTest, AllowLoopbackLiftsOnlyLoopback) {
  auto addr = [](const char* type, const char* a) {
    return [type, a](v1::EndpointChange& c) { SetAddress(c, type, a); };
  };
  validation::SetAllowLoopbackEndpoints(true);
  RunChangeCases({
      {"127.0.0.1", addr("IPv4", "127.0.0.1"), ""},
      {"127.255.0.9", addr("IPv4", "127.255.0.9"), ""},
      {"::1", addr("IPv6", "::1"), ""},
      {"0.0.0.0", addr("IPv4", "0.0.0.0"), "may not be unspecified"},
      {"::", addr("IPv6", "::"), "may not be unspecified"},
      {"169.254.1.1", addr("IPv4", "169.254.1.1"), "link-local range"},
      {"fe80::1", addr("IPv6", "fe80::1"), "link-local range"},
      {"224.0.0.251", addr("IPv4", "224.0.0.251"), "link-local multicast"},
  });
  validation::SetAllowLoopbackEndpoints(false);
  RunChangeCases({{"127.0.0.1 again", addr("IPv4", "127.0.0.1"), "loopback range"}});
}

// Endpoint fields: hostname, nodeName, zone, hints and deprecatedTopology.
TEST(NormalizeChangeTest, EndpointFields) {
  auto zones = [](std::vector<std::string> names) {
    return [names](v1::EndpointChange& c) {
      for (const auto& n : names)
        c.mutable_endpoint()->mutable_hints()->add_for_zones()->set_name(n);
    };
  };
  auto nodes = [](std::vector<std::string> names) {
    return [names](v1::EndpointChange& c) {
      for (const auto& n : names)
        c.mutable_endpoint()->mutable_hints()->add_for_nodes()->set_name(n);
    };
  };
  auto topology = [](int n, std::string key, std::string value) {
    return [n, key, value](v1::EndpointChange& c) {
      auto& m = *c.mutable_endpoint()->mutable_deprecated_topology();
      for (int i = 0; i < n; ++i) m[absl::StrCat("example.com/k", i)] = "v";
      if (!key.empty()) m[key] = value;
    };
  };
  const std::vector<std::string> eight = {"a", "b", "c", "d", "e", "f", "g", "h"};
  std::vector<std::string> nine = eight;
  nine.push_back("i");
  RunChangeCases({
      {"hostname bad", [](auto& c) { c.mutable_endpoint()->set_hostname("Pod_1"); },
       "changes[3].endpoint.hostname: must be a DNS-1123 label"},
      {"hostname set empty", [](auto& c) { c.mutable_endpoint()->set_hostname(""); },
       "changes[3].endpoint.hostname: must be a DNS-1123 label"},
      {"nodeName bad", [](auto& c) { c.mutable_endpoint()->set_node_name("Node-1"); },
       "changes[3].endpoint.nodeName: must be a DNS-1123 subdomain"},
      {"zone free text", [](auto& c) { c.mutable_endpoint()->set_zone("Any Zone!"); }, ""},
      {"forZones 8 label values", zones({"a", "b", "c", "d", "e", "f", "g", "US_West.2a"}), ""},
      {"forZones 9", zones(nine), "changes[3].endpoint.hints.forZones: must have at most 8 items"},
      {"forZones duplicate", zones({"a", "a"}),
       "changes[3].endpoint.hints.forZones[1].name: duplicate value"},
      {"forZones bad value", zones({"-zone"}),
       "changes[3].endpoint.hints.forZones[0].name: must be a valid label value"},
      {"forNodes 8", nodes(eight), ""},
      {"forNodes 9", nodes(nine), "changes[3].endpoint.hints.forNodes: must have at most 8 items"},
      {"forNodes duplicate", nodes({"n1", "n2", "n1"}),
       "changes[3].endpoint.hints.forNodes[2].name: duplicate value"},
      {"forNodes bad name", nodes({"Node_1"}),
       "changes[3].endpoint.hints.forNodes[0].name: must be a DNS-1123 subdomain"},
      {"topology 16", topology(16, "", ""), ""},
      {"topology 17", topology(17, "", ""),
       "changes[3].endpoint.deprecatedTopology: must have at most 16 items"},
      {"topology bad key", topology(0, "bad key", "v"),
       "changes[3].endpoint.deprecatedTopology[bad key]: key must be a qualified name"},
      {"topology bad value", topology(0, "example.com/zone", "-v"),
       "changes[3].endpoint.deprecatedTopology[example.com/zone]: value must be a valid label "
       "value"},
      {"topology zone key", topology(0, "topology.kubernetes.io/zone", "a"),
       "changes[3].endpoint.deprecatedTopology[topology.kubernetes.io/zone]: may not be used"},
  });
}

// Port rules: names, uniqueness (two empty names collide), protocol, appProtocol, number, count.
TEST(NormalizeChangeTest, Ports) {
  auto port = [](std::function<void(v1::EndpointPort&)> f) {
    return [f](v1::EndpointChange& c) { f(*c.mutable_ports(0)); };
  };
  auto many = [](int n) {
    return [n](v1::EndpointChange& c) {
      c.clear_ports();
      for (int i = 0; i < n; ++i) c.add_ports()->set_name(absl::StrCat("p", i));
    };
  };
  RunChangeCases({
      {"name empty", port([](auto& p) { p.set_name(""); }), ""},
      {"name unset", port([](auto& p) { p.clear_name(); }), ""},
      {"name upper", port([](auto& p) { p.set_name("HTTP"); }),
       "changes[3].ports[0].name: must be a DNS-1123 label"},
      {"names distinct", [](auto& c) { c.add_ports()->set_name("https"); }, ""},
      {"names duplicate", [](auto& c) { c.add_ports()->set_name("http"); },
       "changes[3].ports[1].name: duplicate value"},
      {"two empty names",
       [](auto& c) {
         c.mutable_ports(0)->clear_name();
         c.add_ports()->set_name("");
       },
       "changes[3].ports[1].name: duplicate value"},
      {"protocol UDP", port([](auto& p) { p.set_protocol("UDP"); }), ""},
      {"protocol SCTP", port([](auto& p) { p.set_protocol("SCTP"); }), ""},
      {"protocol lower", port([](auto& p) { p.set_protocol("tcp"); }),
       "changes[3].ports[0].protocol: must be TCP, UDP or SCTP"},
      {"protocol set empty", port([](auto& p) { p.set_protocol(""); }),
       "changes[3].ports[0].protocol: must be TCP, UDP or SCTP"},
      {"appProtocol prefixed", port([](auto& p) { p.set_app_protocol("kubernetes.io/h2c"); }), ""},
      {"appProtocol iana", port([](auto& p) { p.set_app_protocol("http"); }), ""},
      {"appProtocol empty", port([](auto& p) { p.set_app_protocol(""); }),
       "changes[3].ports[0].appProtocol: must be a qualified name"},
      {"appProtocol two slashes", port([](auto& p) { p.set_app_protocol("a/b/c"); }),
       "changes[3].ports[0].appProtocol: must be a qualified name"},
      {"port unset", port([](auto& p) { p.clear_port(); }), ""},
      {"port 65535", port([](auto& p) { p.set_port(65535); }), ""},
      {"port 0", port([](auto& p) { p.set_port(0); }),
       "changes[3].ports[0].port: must be between 1 and 65535"},
      {"port 65536", port([](auto& p) { p.set_port(65536); }),
       "changes[3].ports[0].port: must be between 1 and 65535"},
      {"20000 ports", many(20000), ""},
      {"20001 ports", many(20001), "changes[3].ports: must have at most 20000 items"},
      {"duplicate among many",
       [many](auto& c) {
         many(40)(c);
         c.add_ports()->set_name("p7");
       },
       "changes[3].ports[40].name: duplicate value"},
  });
}

// A valid UPSERT comes out canonical: addresses, port defaults, order kept, hints sorted.
TEST(NormalizeChangeTest, UpsertIsCanonical) {
  v1::EndpointChange c = ValidChange();
  c.mutable_endpoint()->clear_addresses();
  c.mutable_endpoint()->add_addresses("010.000.000.002");
  c.mutable_endpoint()->add_addresses("10.0.0.1");
  c.mutable_endpoint()->mutable_hints()->add_for_zones()->set_name("zb");
  c.mutable_endpoint()->mutable_hints()->add_for_zones()->set_name("za");
  c.add_ports()->set_port(8080);
  absl::StatusOr<EndpointDelta> d = NormalizeChange(c, "changes[0]");
  ASSERT_OK(d);
  EXPECT_EQ(d->op, EndpointDelta::Op::kUpsert);
  EXPECT_EQ(d->namespace_, "default");
  EXPECT_EQ(d->service, "web");
  EXPECT_EQ(d->address_type, "IPv4");
  EXPECT_THAT(d->endpoint->addresses(), ElementsAre("10.0.0.2", "10.0.0.1"));
  EXPECT_EQ(d->endpoint->node_name(), "node-1.example");
  EXPECT_EQ(d->endpoint->hints().for_zones(0).name(), "za");
  ASSERT_EQ(d->ports->size(), 2u);
  EXPECT_EQ((*d->ports)[0].name(), "http");
  EXPECT_EQ((*d->ports)[0].protocol(), "TCP");
  EXPECT_TRUE((*d->ports)[1].has_name());
  EXPECT_EQ((*d->ports)[1].name(), "");
  EXPECT_EQ((*d->ports)[1].port(), 8080);
}

// Equal port sets share one canonical list; any difference (defaulting included) does not.
TEST(NormalizeChangeTest, PortListsShareWhenEqual) {
  v1::EndpointChange c = ValidChange();
  absl::StatusOr<EndpointDelta> a = NormalizeChange(c, "");
  c.mutable_ports(0)->set_protocol("TCP");  // Equal once defaulted.
  absl::StatusOr<EndpointDelta> b = NormalizeChange(c, "");
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->ports, b->ports);
  const std::vector<std::function<void(v1::EndpointPort&)>> changes = {
      [](auto& p) { p.set_protocol("UDP"); }, [](auto& p) { p.clear_port(); },
      [](auto& p) { p.set_app_protocol("http"); }, [](auto& p) { p.set_name(""); }};
  for (const auto& change : changes) {
    v1::EndpointChange other = c;
    change(*other.mutable_ports(0));
    absl::StatusOr<EndpointDelta> d = NormalizeChange(other, "");
    ASSERT_OK(d);
    EXPECT_NE(d->ports, a->ports);
    EXPECT_EQ((*d->ports)[0].protocol(),
              other.ports(0).has_protocol() ? other.ports(0).protocol() : "TCP");
    EXPECT_EQ((*d->ports)[0].has_port(), other.ports(0).has_port());
    EXPECT_EQ((*d->ports)[0].app_protocol(), other.ports(0).app_protocol());
  }
  v1::EndpointChange two = c;
  two.add_ports()->set_name("https");
  EXPECT_EQ(NormalizeChange(two, "")->ports->size(), 2u);
}

// The address type is inferred from addresses[0]: IPv6 canonicalised as Go prints it.
TEST(NormalizeChangeTest, InfersIPv6) {
  v1::EndpointChange c = ValidChange();
  SetAddress(c, "", "1234::5678:0000:0000:9abc:def0");
  absl::StatusOr<EndpointDelta> d = NormalizeChange(c, "");
  ASSERT_OK(d);
  EXPECT_EQ(d->address_type, "IPv6");
  EXPECT_THAT(d->endpoint->addresses(), ElementsAre("1234::5678:0:0:9abc:def0"));
}

// A REMOVE needs only identity fields; other fields and ports are not validated or kept.
TEST(NormalizeChangeTest, RemoveChecksIdentityOnly) {
  v1::EndpointChange c;
  c.set_op(v1::EndpointChange::REMOVE);
  c.set_namespace_("default");
  c.set_service("web");
  c.mutable_endpoint()->add_addresses("10.1.2.3");
  c.mutable_endpoint()->set_hostname("pod-1");
  c.mutable_endpoint()->mutable_target_ref()->set_namespace_("default");
  c.mutable_endpoint()->mutable_target_ref()->set_name("pod-1");
  ASSERT_OK(NormalizeChange(c, "changes[0]"));

  c.mutable_endpoint()->set_node_name("Not A Node");
  c.add_ports()->set_protocol("bogus");
  absl::StatusOr<EndpointDelta> d = NormalizeChange(c, "changes[0]");
  ASSERT_OK(d);
  EXPECT_EQ(d->op, EndpointDelta::Op::kRemove);
  EXPECT_FALSE(d->endpoint->has_node_name());
  EXPECT_EQ(d->endpoint->target_ref().name(), "pod-1");
  ASSERT_NE(d->ports, nullptr);
  EXPECT_TRUE(d->ports->empty());

  c.mutable_endpoint()->set_hostname("Bad_Host");
  EXPECT_THAT(NormalizeChange(c, "changes[0]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("changes[0].endpoint.hostname: must be a DNS-1123 label")));
  c.mutable_endpoint()->clear_addresses();
  EXPECT_THAT(NormalizeChange(c, "changes[0]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("changes[0].endpoint.addresses: must contain at least 1")));
}

// NormalizeDesired checks namespace/service and the desired endpoint under its own path.
TEST(NormalizeDesiredTest, PathsAndCanonicalForm) {
  v1::DesiredEndpoint d;
  d.mutable_endpoint()->add_addresses("fd00:0::01");
  absl::StatusOr<EndpointDelta> ok = NormalizeDesired("default", "web", d, "endpoints[1]");
  ASSERT_OK(ok);
  EXPECT_EQ(ok->service, "web");
  EXPECT_THAT(ok->endpoint->addresses(), ElementsAre("fd00::1"));
  d.add_ports()->set_name("Bad");
  EXPECT_THAT(NormalizeDesired("Default", "web", d, "endpoints[1]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("namespace: must be a DNS-1123 label; endpoints[1].ports[0].name: "
                                 "must be a DNS-1123 label")));
}

// A request with a huge number of violations lists 20 and counts the rest.
TEST(NormalizeChangesTest, ErrorMessageIsCapped) {
  google::protobuf::RepeatedPtrField<v1::EndpointChange> changes;
  for (int i = 0; i < 1000; ++i) {
    v1::EndpointChange* c = changes.Add();
    *c = ValidChange();
    if (i >= 10) c->set_namespace_("BAD");
  }
  absl::StatusOr<std::vector<EndpointDelta>> got = NormalizeChanges(changes, "changes");
  ASSERT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("changes[10].namespace: must be a DNS-1123 label")));
  EXPECT_THAT(got.status().message(), HasSubstr("; (and 970 more)"));
  EXPECT_EQ(CountViolations(got.status().message()), 21u);  // 20 listed + "(and N more)".
  EXPECT_THAT(std::string(got.status().message()), ::testing::Not(HasSubstr("changes[30]")));

  changes.DeleteSubrange(10, 990);
  got = NormalizeChanges(changes, "changes");
  ASSERT_OK(got);
  EXPECT_EQ(got->size(), 10u);
}

// Taking a batch gives the same deltas as copying it, moves the names out of the batch instead of
// copying them, and rejects the same batches with the same message.
TEST(NormalizeChangesTest, TakeGivesTheSameDeltas) {
  std::vector<v1::EndpointChange> changes = {ValidChange(), ValidChange(), ValidChange()};
  changes[1].mutable_endpoint()->set_addresses(0, "010.1.2.4");
  changes[2].set_op(v1::EndpointChange::REMOVE);
  changes[2].clear_ports();
  // A REMOVE names its endpoint by identity: what else it carries is dropped, taken or copied.
  v1::Endpoint* gone = changes[2].mutable_endpoint();
  gone->mutable_conditions()->set_ready(true);
  gone->mutable_hints()->add_for_zones()->set_name("us-west2-a");
  (*gone->mutable_deprecated_topology())["topology.kubernetes.io/zone"] = "us-west2-a";
  gone->mutable_target_ref()->set_kind("Pod");
  gone->mutable_target_ref()->set_name("pod-1");
  const std::vector<v1::EndpointChange> copy = changes;
  absl::StatusOr<std::vector<EndpointDelta>> copied = NormalizeChanges(copy, "changes");
  const v1::Endpoint* moved = &changes[0].endpoint();
  const std::string hostname_before = moved->hostname();
  absl::StatusOr<std::vector<EndpointDelta>> taken =
      TakeNormalizedChanges(absl::MakeSpan(changes), "changes");
  ASSERT_OK(copied);
  ASSERT_OK(taken);
  ASSERT_EQ(taken->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*taken)[i].op, (*copied)[i].op);
    EXPECT_EQ((*taken)[i].namespace_, "default");
    EXPECT_EQ((*taken)[i].service, "web");
    EXPECT_EQ((*taken)[i].address_type, "IPv4");
    EXPECT_EQ((*taken)[i].endpoint->SerializeAsString(), (*copied)[i].endpoint->SerializeAsString())
        << i;
  }
  EXPECT_THAT((*taken)[1].endpoint->addresses(), ElementsAre("10.1.2.4"));
  const EndpointRecord& removed = *(*taken)[2].endpoint;
  EXPECT_FALSE(removed.has_conditions());
  EXPECT_FALSE(removed.has_node_name());
  EXPECT_FALSE(removed.has_zone());
  EXPECT_FALSE(removed.has_hints());
  EXPECT_EQ(removed.hostname(), "pod-1");
  EXPECT_EQ(removed.target_ref().name(), "pod-1");
  // The copy keeps a REMOVE's identity fields and the take clears the others in place: a field
  // added to v1::Endpoint must join one of the two lists (validation.cc, CanonicalEndpoint).
  std::vector<std::string> fields;
  const google::protobuf::Descriptor* endpoint = v1::Endpoint::descriptor();
  for (int f = 0; f < endpoint->field_count(); ++f) fields.push_back(endpoint->field(f)->name());
  EXPECT_THAT(fields, ::testing::UnorderedElementsAre(
                          "addresses", "hostname", "target_ref",  // identity
                          "conditions", "node_name", "zone", "hints", "deprecated_topology"));
  EXPECT_EQ((*taken)[0].endpoint->hostname(), hostname_before);
  // The names left the batch.
  EXPECT_EQ(changes[0].namespace_(), "");
  EXPECT_EQ(changes[1].service(), "");

  std::vector<v1::EndpointChange> bad = copy;
  bad[2].set_service("Not_A_Label");
  bad[1].mutable_endpoint()->set_hostname("-x");
  absl::StatusOr<std::vector<EndpointDelta>> rejected_copy = NormalizeChanges(bad, "changes");
  absl::StatusOr<std::vector<EndpointDelta>> rejected =
      TakeNormalizedChanges(absl::MakeSpan(bad), "changes");
  ASSERT_THAT(rejected, StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("changes[1].endpoint.hostname")));
  EXPECT_THAT(rejected.status().message(), HasSubstr("changes[2].service"));
  EXPECT_EQ(rejected.status(), rejected_copy.status());
}

// ReplaceEndpoints checks namespace and service once, then each endpoints[i].
TEST(NormalizeReplaceTest, ChecksRequestOnce) {
  v1::ReplaceEndpointsRequest r;
  r.set_service("web");
  for (int i = 0; i < 3; ++i) r.add_endpoints()->mutable_endpoint()->add_addresses("10.0.0.1");
  r.mutable_endpoints(2)->mutable_endpoint()->set_hostname("-x");
  absl::StatusOr<std::vector<EndpointDelta>> got = NormalizeReplace(r);
  ASSERT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("namespace: required; endpoints[2].endpoint.hostname: ")));
  EXPECT_EQ(CountViolations(got.status().message()), 2u);
  r.set_namespace_("default");
  r.mutable_endpoints(2)->mutable_endpoint()->clear_hostname();
  got = NormalizeReplace(r);
  ASSERT_OK(got);
  EXPECT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[2].namespace_, "default");
}

}  // namespace
}  // namespace slicekeeper::validation
