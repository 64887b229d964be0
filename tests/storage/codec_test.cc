// The RocksDB codec writes slices straight from the shared objects instead of building protobuf
// messages; these tests hold it to the bytes protobuf itself writes (so stored
// data keeps one format) and to a lossless round trip.
#include "server/storage/internal/codec.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace slicekeeper::storage::internal {
namespace {

std::shared_ptr<Slice> MakeSlice(const std::string& name, int endpoints, int64_t rv) {
  v1::EndpointSlice p;
  p.mutable_metadata()->set_name(name);
  p.mutable_metadata()->set_namespace_("ns");
  p.mutable_metadata()->set_uid("uid-" + name);
  p.mutable_metadata()->set_generation(3);
  p.mutable_metadata()->set_resource_version(std::to_string(rv));
  (*p.mutable_metadata()->mutable_labels())["kubernetes.io/service-name"] = "web";
  (*p.mutable_metadata()->mutable_annotations())["a"] = "b";
  p.set_address_type("IPv4");
  for (int i = 0; i < endpoints; ++i) {
    v1::Endpoint* e = p.add_endpoints();
    e->add_addresses("10.0.0." + std::to_string(i + 1));
    e->mutable_conditions()->set_ready(i % 2 == 0);
    e->set_node_name("node-" + std::to_string(i));
    e->set_zone("zone-a");
    e->mutable_target_ref()->set_kind("Pod");
    e->mutable_target_ref()->set_name("pod-" + std::to_string(i));
    if (i == 1) e->mutable_hints()->add_for_zones()->set_name("zone-a");
  }
  v1::EndpointPort* port = p.add_ports();
  port->set_name("http");
  port->set_protocol("TCP");
  port->set_port(80);
  return SliceFromProto(p);
}

// What the codec wrote before it shared the watchers' bytes: no apiVersion and kind.
v1::EndpointSlice OldStoredProto(const Slice& s) {
  v1::EndpointSlice p = s.ToProto();
  p.clear_api_version();
  p.clear_kind();
  return p;
}

TEST(CodecTest, SliceBytesAreProtobufsAndRoundTrip) {
  for (int n : {0, 1, 3, 100}) {
    std::shared_ptr<Slice> slice = MakeSlice("web-abc", n, 42);
    const std::shared_ptr<const std::string> bytes = EncodeSlice(*slice);
    EXPECT_EQ(*bytes, slice->ToProto().SerializeAsString()) << n;
    // The same bytes every watcher is sent: serialized once.
    EXPECT_EQ(bytes, slice->SerializedProto()) << n;
    absl::StatusOr<SlicePtr> back = DecodeSlice("s/ns/web/web-abc", "web-abc", *bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*(*back)->SerializedProto(), *slice->SerializedProto()) << n;
    // Values written by earlier versions (without apiVersion and kind) still load the same.
    back = DecodeSlice("s/ns/web/web-abc", "web-abc", OldStoredProto(*slice).SerializeAsString());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*(*back)->SerializedProto(), *slice->SerializedProto()) << n;
  }
}

// A new version encoded after its predecessor: the same bytes as encoding it alone.
TEST(CodecTest, SliceEncodedAfterItsPredecessorIsTheSame) {
  std::shared_ptr<Slice> prev = MakeSlice("web-abc", 100, 42);
  EncodeSlice(*prev);
  auto next = std::make_shared<Slice>(*prev);
  next->resource_version = 43;
  next->endpoints.erase(10);
  next->endpoints.push_back(MakeSlice("web-abc", 1, 1)->endpoints[0]);
  const std::string alone = next->ToProto().SerializeAsString();
  EXPECT_EQ(*EncodeSlice(*next, prev.get()), alone);
}

}  // namespace
}  // namespace slicekeeper::storage::internal
