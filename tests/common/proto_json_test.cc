// Tests that the v1 messages speak Kubernetes JSON: a kubectl-style YAML EndpointSlice parses
// into v1::EndpointSlice and prints back as the same document with the same field names, and the
// in-memory Slice model round-trips the wire object.
#include <string>

#include "common/slice.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/test_util.h"
#include "yaml-cpp/yaml.h"

namespace slicekeeper {
namespace {

using ::google::protobuf::Value;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;
using ::testing::Not;

// A plain YAML scalar as JSON would type it; quoted scalars stay strings.
Value ScalarToValue(const YAML::Node& node) {
  Value v;
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") {  // Quoted: always a string.
    v.set_string_value(s);
    return v;
  }
  bool b;
  long long i;
  if (s == "null" || s == "~" || s.empty()) {
    v.set_null_value(google::protobuf::NULL_VALUE);
  } else if ((s == "true" || s == "false") && YAML::convert<bool>::decode(node, b)) {
    v.set_bool_value(b);
  } else if (s.find_first_not_of("-0123456789") == std::string::npos &&
             YAML::convert<long long>::decode(node, i)) {
    v.set_number_value(static_cast<double>(i));
  } else {
    v.set_string_value(s);
  }
  return v;
}

Value YamlToValue(const YAML::Node& node) {
  Value v;
  switch (node.Type()) {
    case YAML::NodeType::Map:
      for (const auto& kv : node) {
        (*v.mutable_struct_value()->mutable_fields())[kv.first.as<std::string>()] =
            YamlToValue(kv.second);
      }
      break;
    case YAML::NodeType::Sequence:
      for (const auto& item : node) *v.mutable_list_value()->add_values() = YamlToValue(item);
      break;
    case YAML::NodeType::Scalar:
      return ScalarToValue(node);
    default:
      v.set_null_value(google::protobuf::NULL_VALUE);
  }
  return v;
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &out).ok());
  return out;
}

Value ParseValue(const std::string& json) {
  Value v;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &v).ok()) << json;
  return v;
}

v1::EndpointSlice LoadExample() {
  YAML::Node doc = YAML::LoadFile(std::string(SK_TESTDATA_DIR) + "/example-slice.yaml");
  v1::EndpointSlice slice;
  auto status = google::protobuf::util::JsonStringToMessage(ToJson(YamlToValue(doc)), &slice);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return slice;
}

// The example YAML parses into the message and prints back as an equal JSON document.
TEST(ProtoJsonTest, ExampleSliceRoundTrips) {
  Value original =
      YamlToValue(YAML::LoadFile(std::string(SK_TESTDATA_DIR) + "/example-slice.yaml"));
  v1::EndpointSlice slice;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ToJson(original), &slice).ok());
  EXPECT_EQ(slice.address_type(), "IPv4");
  EXPECT_EQ(slice.endpoints(0).addresses(0), "10.1.2.3");
  EXPECT_TRUE(slice.endpoints(0).conditions().ready());
  EXPECT_EQ(slice.ports(0).port(), 80);
  Value printed = ParseValue(ToJson(slice));
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(original, printed)) << diff;
}

// Printed JSON uses Kubernetes' lowerCamelCase names, never the proto field names.
TEST(ProtoJsonTest, KubernetesFieldNames) {
  v1::EndpointSlice slice = LoadExample();
  slice.mutable_metadata()->set_resource_version("7");
  slice.mutable_metadata()->set_generate_name("example-");
  slice.mutable_endpoints(0)->mutable_target_ref()->set_api_version("v1");
  slice.mutable_endpoints(0)->mutable_hints()->add_for_zones()->set_name("us-west2-a");
  slice.mutable_endpoints(0)->mutable_deprecated_topology()->insert({"k", "v"});
  slice.mutable_ports(0)->set_app_protocol("http");
  std::string json = ToJson(slice);
  for (const char* name :
       {"\"apiVersion\"", "\"addressType\"", "\"nodeName\"", "\"targetRef\"", "\"resourceVersion\"",
        "\"generateName\"", "\"forZones\"", "\"deprecatedTopology\"", "\"appProtocol\""}) {
    EXPECT_THAT(json, HasSubstr(name));
  }
  EXPECT_THAT(json, Not(HasSubstr("address_type")));
  EXPECT_THAT(json, Not(HasSubstr("node_name")));
}

// SliceFromProto then ToProto gives back the same wire object, metadata included.
TEST(SliceModelTest, ProtoRoundTrip) {
  v1::EndpointSlice wire = LoadExample();
  v1::ObjectMeta* m = wire.mutable_metadata();
  m->set_namespace_("default");
  m->set_uid("uid-1");
  m->set_generation(3);
  m->set_resource_version("42");
  m->set_creation_timestamp("2024-01-02T03:04:05Z");
  (*m->mutable_annotations())["endpoints.kubernetes.io/last-change-trigger-time"] = "t";
  v1::OwnerReference* o = m->add_owner_references();
  o->set_kind("Service");
  o->set_name("example");
  o->set_controller(true);
  wire.add_endpoints()->add_addresses("10.1.2.4");

  std::shared_ptr<Slice> slice = SliceFromProto(wire);
  EXPECT_EQ(slice->resource_version, 42);
  EXPECT_EQ(slice->ServiceName(), "example");
  EXPECT_FALSE(slice->Managed());
  ASSERT_EQ(slice->endpoints.size(), 2u);
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(wire, slice->ToProto())) << diff;

  m->set_resource_version("not-a-number");
  EXPECT_EQ(SliceFromProto(wire)->resource_version, 0);
  EXPECT_TRUE(SliceFromProto(wire)->ToProto().metadata().resource_version().empty());
}

}  // namespace
}  // namespace slicekeeper
