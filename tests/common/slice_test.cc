// Slice: the shared serialized form equals the Kubernetes object ToProto builds.
#include "common/slice.h"

#include "gtest/gtest.h"
#include "google/protobuf/util/message_differencer.h"

namespace slicekeeper {
namespace {

v1::EndpointSlice Sample(bool topology) {
  v1::EndpointSlice s;
  s.mutable_metadata()->set_name("web-abc");
  s.mutable_metadata()->set_namespace_("default");
  (*s.mutable_metadata()->mutable_labels())[kLabelServiceName] = "web";
  s.set_address_type(kAddressTypeIPv4);
  for (int i = 0; i < 3; ++i) {
    v1::Endpoint* e = s.add_endpoints();
    e->add_addresses("10.0.0." + std::to_string(i + 1));
    e->mutable_conditions()->set_ready(i != 1);
    e->set_zone("zone-a");
    e->mutable_target_ref()->set_kind("Pod");
    e->mutable_target_ref()->set_name("pod-" + std::to_string(i));
    if (topology) (*e->mutable_deprecated_topology())["rack"] = "r" + std::to_string(i);
  }
  v1::EndpointPort* p = s.add_ports();
  p->set_name("http");
  p->set_port(8080);
  p->set_protocol("TCP");
  return s;
}

TEST(SliceTest, SerializedProtoIsToProtoSerialized) {
  std::shared_ptr<Slice> slice = SliceFromProto(Sample(/*topology=*/false));
  slice->uid = "u-1";
  slice->generation = 3;
  slice->resource_version = 42;
  // Without map fields in the endpoints the bytes are protobuf's own, byte for byte.
  EXPECT_EQ(*slice->SerializedProto(), slice->ToProto().SerializeAsString());
}

TEST(SliceTest, SerializedProtoParsesToToProto) {
  std::shared_ptr<Slice> slice = SliceFromProto(Sample(/*topology=*/true));
  slice->resource_version = 7;
  v1::EndpointSlice parsed;
  ASSERT_TRUE(parsed.ParseFromString(*slice->SerializedProto()));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, slice->ToProto()))
      << parsed.DebugString();
  EXPECT_EQ(parsed.endpoints_size(), 3);
  EXPECT_EQ(parsed.endpoints(2).deprecated_topology().at("rack"), "r2");
  // Computed once, then shared.
  EXPECT_EQ(slice->SerializedProto(), slice->SerializedProto());
}

}  // namespace
}  // namespace slicekeeper
