// Slice: the shared serialized form equals the Kubernetes object ToProto builds.
#include "common/slice.h"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

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

// A version serialized after its predecessor (reusing the bytes of the endpoints both share) is
// byte for byte what serializing it alone gives, whatever was kept, removed, added or reordered,
// and whatever the predecessor's cache holds.
TEST(SliceTest, SerializedProtoAfterEqualsSerializedProto) {
  std::shared_ptr<Slice> prev = SliceFromProto(Sample(/*topology=*/false));
  prev->resource_version = 41;
  std::shared_ptr<Slice> other = SliceFromProto(Sample(/*topology=*/false));
  auto fresh = [](int i) {
    v1::Endpoint e;
    e.add_addresses("10.0.1." + std::to_string(i));
    e.mutable_conditions()->set_serving(true);
    return EndpointRecord::FromProto(e);
  };
  using Edit = std::function<void(Slice&)>;
  const std::vector<std::pair<std::string, Edit>> edits = {
      {"unchanged", [](Slice&) {}},
      {"removed first", [](Slice& s) { s.endpoints.erase(0); }},
      {"removed middle", [](Slice& s) { s.endpoints.erase(1); }},
      {"added", [&](Slice& s) { s.endpoints.push_back(fresh(9)); }},
      {"replaced", [&](Slice& s) { s.endpoints.Set(1, fresh(8)); }},
      {"reversed",
       [](Slice& s) {
         std::vector<EndpointPtr> v = s.endpoints.ToVector();
         std::reverse(v.begin(), v.end());
         s.endpoints = std::move(v);
       }},
      {"emptied", [](Slice& s) { s.endpoints.clear(); }},
      {"ports changed",
       [](Slice& s) {
         auto ports = std::make_shared<PortList>(*s.ports);
         ports->at(0).set_port(9090);
         s.ports = std::move(ports);
       }},
      {"another slice's endpoints", [&](Slice& s) { s.endpoints = other->endpoints; }},
  };
  for (bool cached : {false, true}) {
    if (cached) prev->SerializedProto();
    for (const auto& [what, edit] : edits) {
      auto next = std::make_shared<Slice>(*prev);
      next->resource_version = 42;
      edit(*next);
      const std::string alone = next->Serialize();
      EXPECT_EQ(*next->SerializedProtoAfter(*prev), alone) << what << " cached=" << cached;
      EXPECT_EQ(alone, next->ToProto().SerializeAsString()) << what;
    }
  }
}

// Bytes in the predecessor's cache that are not an EndpointSlice's are not trusted.
TEST(SliceTest, SerializedProtoAfterIgnoresUnparsableBase) {
  std::shared_ptr<Slice> prev = SliceFromProto(Sample(/*topology=*/false));
  prev->serialized.GetOrCompute([] { return std::string("\x2a\xff\xff"); });
  auto next = std::make_shared<Slice>(*prev);
  next->resource_version = 2;
  EXPECT_EQ(*next->SerializedProtoAfter(*prev), next->ToProto().SerializeAsString());
}

}  // namespace
}  // namespace slicekeeper
