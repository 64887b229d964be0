// Tests of the name, value and IP predicates of common/validation.h (docs/kubernetes-behaviour.md
// §2).
#include <string>
#include <vector>

#include "common/validation.h"
#include "tests/test_util.h"

namespace slicekeeper::validation {
namespace {

using ::testing::Eq;
using ::testing::Optional;

struct PredicateCase {
  bool (*fn)(absl::string_view);
  const char* fn_name;
  std::string input;
  bool want;
};

#define SK_CASE(fn, input, want) \
  PredicateCase { fn, #fn, input, want }

// Each name rule accepts its valid shapes and rejects case, charset, edge and length violations.
TEST(NamesTest, Predicates) {
  const std::vector<PredicateCase> cases = {
      SK_CASE(IsDns1123Label, "my-name", true),
      SK_CASE(IsDns1123Label, "123-abc", true),
      SK_CASE(IsDns1123Label, std::string(63, 'a'), true),
      SK_CASE(IsDns1123Label, std::string(64, 'a'), false),
      SK_CASE(IsDns1123Label, "", false),
      SK_CASE(IsDns1123Label, "-a", false),
      SK_CASE(IsDns1123Label, "a-", false),
      SK_CASE(IsDns1123Label, "My-name", false),
      SK_CASE(IsDns1123Label, "a.b", false),
      SK_CASE(IsDns1123Label, "a_b", false),
      SK_CASE(IsDns1123Subdomain, "a.b-c.d", true),
      SK_CASE(IsDns1123Subdomain, "a", true),
      SK_CASE(IsDns1123Subdomain, std::string(64, 'a') + ".b", true),  // No per-label limit.
      SK_CASE(IsDns1123Subdomain, std::string(253, 'a'), true),
      SK_CASE(IsDns1123Subdomain, std::string(254, 'a'), false),
      SK_CASE(IsDns1123Subdomain, "a..b", false),
      SK_CASE(IsDns1123Subdomain, "a.", false),
      SK_CASE(IsDns1123Subdomain, ".a", false),
      SK_CASE(IsDns1123Subdomain, "a.-b", false),
      SK_CASE(IsDns1123Subdomain, "A.b", false),
      SK_CASE(IsLabelValue, "", true),
      SK_CASE(IsLabelValue, "Us_West.2-a", true),
      SK_CASE(IsLabelValue, std::string(63, 'Z'), true),
      SK_CASE(IsLabelValue, std::string(64, 'Z'), false),
      SK_CASE(IsLabelValue, "_a", false),
      SK_CASE(IsLabelValue, "a.", false),
      SK_CASE(IsLabelValue, "a b", false),
      SK_CASE(IsLabelValue, "a/b", false),
      SK_CASE(IsQualifiedName, "kubernetes.io/h2c", true),
      SK_CASE(IsQualifiedName, "mycompany.com/X_y", true),
      SK_CASE(IsQualifiedName, "http", true),
      SK_CASE(IsQualifiedName, "", false),
      SK_CASE(IsQualifiedName, "/h2c", false),
      SK_CASE(IsQualifiedName, "kubernetes.io/", false),
      SK_CASE(IsQualifiedName, "a/b/c", false),
      SK_CASE(IsQualifiedName, "Kubernetes.io/h2c", false),
      SK_CASE(IsQualifiedName, "x/" + std::string(64, 'a'), false),
      SK_CASE(IsLabelKey, "kubernetes.io/service-name", true),
      SK_CASE(IsLabelKey, "bad key", false),
      SK_CASE(IsFqdnAddress, "foo.example.com", true),
      SK_CASE(IsFqdnAddress, "example.com", true),
      SK_CASE(IsFqdnAddress, "example.com.", true),
      SK_CASE(IsFqdnAddress, "FOO.example.com", false),
      SK_CASE(IsFqdnAddress, "*.example.com", false),
      SK_CASE(IsFqdnAddress, "foo.*", false),
      SK_CASE(IsFqdnAddress, "under_score.example.com", false),
      SK_CASE(IsFqdnAddress, "example", false),
      SK_CASE(IsFqdnAddress, "example.com..", false),
      SK_CASE(IsFqdnAddress, "", false),
  };
  for (const PredicateCase& tc : cases) {
    EXPECT_EQ(tc.fn(tc.input), tc.want) << tc.fn_name << "(\"" << tc.input << "\")";
  }
}

#undef SK_CASE

// Canonical text is Go's IP.String(): sloppy IPv4 zeros, RFC 5952 IPv6, v4-mapped is IPv4.
TEST(IpTest, CanonicalForms) {
  const std::vector<std::pair<std::string, std::string>> v4 = {
      {"10.1.2.3", "10.1.2.3"},          {"010.001.002.003", "10.1.2.3"},
      {"0000000255.0.0.1", "255.0.0.1"}, {"::ffff:1.2.3.4", "1.2.3.4"},
      {"::ffff:010.1.2.3", "10.1.2.3"},  {"::FFFF:0102:0304", "1.2.3.4"},
  };
  for (const auto& [in, want] : v4) EXPECT_THAT(CanonicalIp("IPv4", in), Optional(Eq(want))) << in;
  const std::vector<std::pair<std::string, std::string>> v6 = {
      {"1234::5678:0000:0000:9abc:def0", "1234::5678:0:0:9abc:def0"},
      {"2001:DB8::1", "2001:db8::1"},
      {"2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"},
      {"1:0:0:2:0:0:0:3", "1:0:0:2::3"},
      {"1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"},
      {"1:0:0:0:0:0:0:0", "1::"},
      {"0:0:0:0:0:0:0:1", "::1"},
      {"::", "::"},
      {"64:ff9b::1.2.3.4", "64:ff9b::102:304"},
      {"::1.2.3.4", "::102:304"},
      {"64:ff9b::01.002.3.4", "64:ff9b::102:304"},
  };
  for (const auto& [in, want] : v6) EXPECT_THAT(CanonicalIp("IPv6", in), Optional(Eq(want))) << in;
}

// Junk, the wrong family and unknown types give no canonical text.
TEST(IpTest, RejectsJunk) {
  for (const char* in : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4.", " 1.2.3.4", "1.2.3.4 ",
                         "0x1.2.3.4", "1.2.3.-4", "1.2.3.4/32", "fd00::1", "a.b.c.d"}) {
    EXPECT_EQ(CanonicalIp("IPv4", in), std::nullopt) << in;
  }
  for (const char* in : {"", "1::2::3", "12345::1", "fe80::1%eth0", "::ffff:1.2.3.4", "1.2.3.4",
                         "1:2:3:4:5:6:7:8:9", "::1.2.3", "g::1", "[::1]"}) {
    EXPECT_EQ(CanonicalIp("IPv6", in), std::nullopt) << in;
  }
  EXPECT_EQ(CanonicalIp("FQDN", "10.1.2.3"), std::nullopt);
  EXPECT_EQ(CanonicalIp("IP", "10.1.2.3"), std::nullopt);
}

// The family comes from the parsed address; non-IPs infer nothing.
TEST(IpTest, InferAddressType) {
  EXPECT_EQ(InferAddressType("10.1.2.3"), "IPv4");
  EXPECT_EQ(InferAddressType("010.1.2.3"), "IPv4");
  EXPECT_EQ(InferAddressType("::ffff:10.1.2.3"), "IPv4");
  EXPECT_EQ(InferAddressType("fd00::1"), "IPv6");
  EXPECT_EQ(InferAddressType("foo.example.com"), "");
  EXPECT_EQ(InferAddressType(""), "");
}

// Unspecified, loopback, link-local unicast and link-local multicast are rejected; global
// multicast and ordinary addresses are not.
TEST(IpTest, RejectedRanges) {
  for (const char* ip :
       {"0.0.0.0", "::", "127.0.0.1", "127.255.0.9", "::1", "169.254.0.1", "fe80::1",
        "febf:ffff::1", "224.0.0.0", "224.0.0.255", "ff02::1", "ff12::1"}) {
    EXPECT_TRUE(IsRejectedIpRange(ip)) << ip;
  }
  for (const char* ip : {"10.0.0.1", "224.0.1.0", "239.255.255.250", "ff05::2", "fec0::1",
                         "2001:db8::1", "::2", "169.253.0.1", "not-an-ip"}) {
    EXPECT_FALSE(IsRejectedIpRange(ip)) << ip;
  }
}

}  // namespace
}  // namespace slicekeeper::validation
