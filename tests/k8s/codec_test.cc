// The Kubernetes JSON codec of EndpointSlices: what the apiserver would print, and decoding with
// field paths, JSON types and unknown fields.
#include "server/k8s/codec.h"

#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace slicekeeper::k8s {
namespace {

using ::google::protobuf::Value;
using ::slicekeeper::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// A slice using every field of the model.
v1::EndpointSlice FullSlice() {
  v1::EndpointSlice s;
  s.set_api_version(kApiVersion);
  s.set_kind(kKind);
  v1::ObjectMeta* m = s.mutable_metadata();
  m->set_name("web-abc");
  m->set_namespace_("prod");
  m->set_uid("u-1");
  m->set_resource_version("42");
  m->set_generation(3);
  m->set_creation_timestamp("2024-05-06T07:08:09Z");
  (*m->mutable_labels())["z"] = "last";
  (*m->mutable_labels())[kLabelServiceName] = "web";
  (*m->mutable_annotations())["note"] = "say \"hi\"\n";
  v1::OwnerReference* o = m->add_owner_references();
  o->set_api_version("v1");
  o->set_kind("Service");
  o->set_name("web");
  o->set_uid("svc-uid");
  o->set_controller(true);
  s.set_address_type("IPv4");
  v1::Endpoint* e = s.add_endpoints();
  e->add_addresses("10.0.0.1");
  e->mutable_conditions()->set_ready(false);
  e->mutable_conditions()->set_terminating(true);
  e->set_hostname("pod-1");
  e->mutable_target_ref()->set_kind("Pod");
  e->mutable_target_ref()->set_name("pod-1");
  e->set_node_name("node-1");
  e->set_zone("zone-a");
  e->mutable_hints()->add_for_zones()->set_name("zone-a");
  (*e->mutable_deprecated_topology())["k"] = "v";
  s.add_endpoints()->add_addresses("10.0.0.2");
  v1::EndpointPort* p = s.add_ports();
  p->set_name("http");
  p->set_protocol("TCP");
  p->set_port(8080);
  p->set_app_protocol("kubernetes.io/h2c");
  return s;
}

const Value& Field(const Value& v, const std::string& key) {
  static const Value kMissing;
  auto it = v.struct_value().fields().find(key);
  return it == v.struct_value().fields().end() ? kMissing : it->second;
}

// Encoding follows the apiserver: generation a number, resourceVersion a string, optional fields
// only when set, conditions always, maps sorted, strings escaped.
TEST(CodecTest, EncodesKubernetesJson) {
  const std::string json = EncodeSlice(*SliceFromProto(FullSlice()));
  absl::StatusOr<Value> v = ParseJson(json);
  ASSERT_OK(v);
  const Value& meta = Field(*v, "metadata");
  EXPECT_TRUE(Field(meta, "generation").has_number_value());
  EXPECT_EQ(Field(meta, "generation").number_value(), 3);
  EXPECT_EQ(Field(meta, "resourceVersion").string_value(), "42");
  EXPECT_EQ(Field(meta, "creationTimestamp").string_value(), "2024-05-06T07:08:09Z");
  EXPECT_EQ(Field(Field(meta, "annotations"), "note").string_value(), "say \"hi\"\n");
  EXPECT_LT(json.find(kLabelServiceName), json.find("\"z\":\"last\""));
  const Value& second = Field(*v, "endpoints").list_value().values(1);
  EXPECT_EQ(Field(second, "conditions").struct_value().fields_size(), 0);
  EXPECT_TRUE(Field(second, "conditions").has_struct_value());
  EXPECT_FALSE(second.struct_value().fields().contains("hostname"));
  EXPECT_EQ(Field(Field(*v, "ports").list_value().values(0), "port").number_value(), 8080);
  // An override of resourceVersion (a DELETED event).
  absl::StatusOr<Value> deleted = ParseJson(EncodeSlice(*SliceFromProto(FullSlice()), 77));
  EXPECT_EQ(Field(Field(*deleted, "metadata"), "resourceVersion").string_value(), "77");
}

// Empty lists are null and a missing creationTimestamp is null, as from protobuf storage.
TEST(CodecTest, EmptySliceUsesNulls) {
  v1::EndpointSlice s;
  s.mutable_metadata()->set_name("empty");
  s.set_address_type("IPv6");
  const std::string json = EncodeSlice(*SliceFromProto(s));
  EXPECT_EQ(json,
            R"({"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":)"
            R"({"name":"empty","creationTimestamp":null},"addressType":"IPv6",)"
            R"("endpoints":null,"ports":null})");
}

// Decoding what was encoded gives back the object, field for field.
TEST(CodecTest, RoundTrips) {
  const v1::EndpointSlice full = FullSlice();
  absl::StatusOr<Value> v = ParseJson(EncodeSlice(*SliceFromProto(full)));
  ASSERT_OK(v);
  absl::StatusOr<DecodedSlice> decoded = DecodeSlice(*v);
  ASSERT_OK(decoded);
  EXPECT_TRUE(decoded->unknown_fields.empty());
  std::string diff;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differ.Compare(decoded->slice, full)) << diff;
}

// JSON of the wrong type is an error naming the field path; null reads as unset.
TEST(CodecTest, TypeErrorsNameTheField) {
  auto decode = [](const std::string& json) {
    absl::StatusOr<Value> v = ParseJson(json);
    EXPECT_OK(v);
    return DecodeSlice(*v);
  };
  EXPECT_THAT(decode(R"({"ports":[{"port":"80"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "ports[0].port: expected an integer, got string"));
  EXPECT_THAT(decode(R"({"ports":[{"port":80.5}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ports[0].port")));
  EXPECT_THAT(decode(R"({"ports":[{"port":4294967296}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("32 bits")));
  EXPECT_THAT(decode(R"({"endpoints":[{"addresses":"10.0.0.1"}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "endpoints[0].addresses: expected an array, got string"));
  EXPECT_THAT(decode(R"({"metadata":{"labels":{"a":1}}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "metadata.labels[a]: expected a string, got number"));
  EXPECT_THAT(decode(R"([1])"), StatusIs(absl::StatusCode::kInvalidArgument,
                                         "object: expected an object, got array"));
  absl::StatusOr<DecodedSlice> nulls =
      decode(R"({"metadata":{"name":"x","labels":null},"endpoints":null,)"
             R"("ports":[{"name":null,"port":1}]})");
  ASSERT_OK(nulls);
  EXPECT_FALSE(nulls->slice.ports(0).has_name());
  EXPECT_EQ(nulls->slice.ports(0).port(), 1);
}

// Fields the model lacks are collected with their paths; ObjectMeta fields slicekeeper does not
// keep are dropped quietly.
TEST(CodecTest, CollectsUnknownFields) {
  absl::StatusOr<Value> v = ParseJson(
      R"({"spec":{},"metadata":{"name":"x","managedFields":[],"finalizers":["f"],"bogus":1},)"
      R"("endpoints":[{"addresses":["10.0.0.1"],"extra":true}]})");
  ASSERT_OK(v);
  absl::StatusOr<DecodedSlice> decoded = DecodeSlice(*v);
  ASSERT_OK(decoded);
  EXPECT_THAT(decoded->unknown_fields,
              UnorderedElementsAre("spec", "metadata.bogus", "endpoints[0].extra"));
  EXPECT_EQ(decoded->slice.metadata().name(), "x");
  EXPECT_THAT(decoded->slice.endpoints(0).addresses(), ElementsAre("10.0.0.1"));
}

// Malformed JSON is INVALID_ARGUMENT.
TEST(CodecTest, RejectsMalformedJson) {
  EXPECT_THAT(ParseJson("{\"a\":"), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("invalid JSON")));
}

}  // namespace
}  // namespace slicekeeper::k8s
