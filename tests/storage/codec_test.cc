// The RocksDB codec writes slices and history entries straight from the shared objects instead of
// building protobuf messages; these tests hold it to the bytes protobuf itself writes (so stored
// data keeps one format) and to a lossless round trip.
#include "server/storage/internal/codec.h"

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/storage/internal/records.pb.h"

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

// What the codec wrote before: the message built and serialized by protobuf.
v1::EndpointSlice StoredProto(const Slice& s) {
  v1::EndpointSlice p = s.ToProto();
  p.clear_api_version();
  p.clear_kind();
  return p;
}

TEST(CodecTest, SliceBytesAreProtobufsAndRoundTrip) {
  for (int n : {0, 1, 3, 100}) {
    std::shared_ptr<Slice> slice = MakeSlice("web-abc", n, 42);
    const std::string bytes = EncodeSlice(*slice);
    EXPECT_EQ(bytes, StoredProto(*slice).SerializeAsString()) << n;
    absl::StatusOr<SlicePtr> back = DecodeSlice("s/ns/web/web-abc", "web-abc", bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ((*back)->SerializedProto()->size(), slice->SerializedProto()->size());
    EXPECT_EQ(*(*back)->SerializedProto(), *slice->SerializedProto()) << n;
  }
}

TEST(CodecTest, HistoryBytesAreProtobufsAndRoundTrip) {
  CommitRecord commit;
  commit.revision = 9;
  commit.time = absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(5);
  ServiceWrite a;
  a.undo.namespace_ = "ns";
  a.undo.name = "web";
  a.undo.existed = true;
  a.undo.prev_mod_revision = 7;
  a.undo.record_changed = true;
  auto record = std::make_shared<v1::ServiceRecord>();
  record->set_namespace_("ns");
  record->set_name("web");
  a.undo.prev_record = record;
  a.undo.slices.push_back({"web-abc", MakeSlice("web-abc", 3, 7)});
  a.undo.slices.push_back({"web-new", nullptr});
  a.undo.slices.push_back({"web-big", MakeSlice("web-big", 100, 5)});
  ServiceWrite b;  // a new service: nothing before
  b.undo.namespace_ = "other";
  b.undo.name = "db";
  b.undo.slices.push_back({"db-1", nullptr});
  commit.services = {a, b};

  HistoryValue want;
  want.set_revision(commit.revision);
  want.set_time_unix_nanos(absl::ToUnixNanos(commit.time));
  for (const ServiceWrite& w : commit.services) {
    ServiceUndoValue* u = want.add_services();
    u->set_namespace_(w.undo.namespace_);
    u->set_name(w.undo.name);
    u->set_existed(w.undo.existed);
    u->set_prev_mod_revision(w.undo.prev_mod_revision);
    u->set_record_changed(w.undo.record_changed);
    if (w.undo.prev_record != nullptr) *u->mutable_prev_record() = *w.undo.prev_record;
    for (const ServiceUndo::SliceUndo& s : w.undo.slices) {
      SliceUndoValue* sv = u->add_slices();
      sv->set_name(s.name);
      if (s.prev != nullptr) *sv->mutable_prev() = StoredProto(*s.prev);
    }
  }
  const std::string bytes = EncodeHistory(commit);
  EXPECT_EQ(bytes, want.SerializeAsString());

  absl::StatusOr<HistoryEntry> back = DecodeHistory(HistoryKey(9), bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->revision, 9);
  EXPECT_EQ(back->time, commit.time);
  ASSERT_EQ(back->services.size(), 2u);
  const ServiceUndo& u = back->services[0];
  EXPECT_EQ(u.name, "web");
  EXPECT_TRUE(u.existed);
  EXPECT_EQ(u.prev_mod_revision, 7);
  ASSERT_NE(u.prev_record, nullptr);
  ASSERT_EQ(u.slices.size(), 3u);
  EXPECT_EQ(u.slices[1].name, "web-new");
  EXPECT_EQ(u.slices[1].prev, nullptr);
  ASSERT_NE(u.slices[2].prev, nullptr);
  EXPECT_EQ(*u.slices[2].prev->SerializedProto(), *a.undo.slices[2].prev->SerializedProto());
  EXPECT_FALSE(back->services[1].existed);
}

}  // namespace
}  // namespace slicekeeper::storage::internal
