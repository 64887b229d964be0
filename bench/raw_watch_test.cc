// ScanWatchResponse against messages built and serialized by protobuf itself: the load harnesses'
// figures rest on it reading the same events a parsed WatchResponse would show.
#include "bench/raw_watch.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace slicekeeper::bench {
namespace {

// `bytes` as a ByteBuffer of `pieces` slices, so that fields straddle slice boundaries.
grpc::ByteBuffer Buffer(const std::string& bytes, size_t pieces) {
  std::vector<grpc::Slice> slices;
  const size_t step = (bytes.size() + pieces - 1) / pieces;
  for (size_t at = 0; at < bytes.size(); at += step) {
    slices.emplace_back(bytes.substr(at, step));
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

v1::WatchResponse Response() {
  v1::WatchResponse r;
  v1::WatchEvent* slice = r.add_events();
  slice->set_type(v1::WatchEvent::MODIFIED);
  slice->set_revision(4242);
  v1::EndpointSlice* s = slice->mutable_slice();
  (*s->mutable_metadata()->mutable_labels())["app"] = "web";
  (*s->mutable_metadata()->mutable_labels())["kubernetes.io/service-name"] = "svc-3";
  (*s->mutable_metadata()->mutable_annotations())
      ["endpoints.kubernetes.io/last-change-trigger-time"] = "2026-12-03T07:00:00.123456Z";
  for (int i = 0; i < 3; ++i) s->add_endpoints()->add_addresses("10.0.0." + std::to_string(i));
  s->add_ports()->set_port(80);
  v1::WatchEvent* endpoint = r.add_events();
  endpoint->set_type(v1::WatchEvent::DELETED);
  endpoint->set_revision(4243);
  endpoint->set_namespace_("bench");
  endpoint->set_service("svc-7");
  endpoint->mutable_endpoint()->set_address("10.1.2.3");
  v1::WatchEvent* synced = r.add_events();
  synced->set_type(v1::WatchEvent::SYNCED);
  synced->set_revision(4243);
  return r;
}

TEST(ScanWatchResponseTest, ReadsWhatTheHarnessesUse) {
  const std::string bytes = Response().SerializeAsString();
  for (size_t pieces : {1, 3, 17}) {
    grpc::ByteBuffer buffer = Buffer(bytes, pieces);
    std::vector<ScannedEvent> events;
    ASSERT_TRUE(ScanWatchResponse(&buffer, &events)) << pieces;
    ASSERT_EQ(events.size(), 3u) << pieces;
    EXPECT_EQ(events[0].type, v1::WatchEvent::MODIFIED);
    EXPECT_EQ(events[0].revision, 4242);
    EXPECT_EQ(events[0].service, "svc-3");
    EXPECT_EQ(events[0].endpoints, 3);
    EXPECT_EQ(events[0].trigger_time, "2026-12-03T07:00:00.123456Z");
    EXPECT_EQ(events[1].type, v1::WatchEvent::DELETED);
    EXPECT_EQ(events[1].revision, 4243);
    EXPECT_EQ(events[1].service, "svc-7");
    EXPECT_EQ(events[1].endpoints, 1);
    EXPECT_EQ(events[1].trigger_time, "");
    EXPECT_EQ(events[2].type, v1::WatchEvent::SYNCED);
    EXPECT_EQ(events[2].endpoints, 0);
  }
}

// Every prefix of the bytes scans only if it ends between two events (then it is a shorter
// valid WatchResponse); one that cuts an event, at any depth, is rejected.
TEST(ScanWatchResponseTest, RejectsTruncatedBytes) {
  const v1::WatchResponse r = Response();
  const std::string bytes = r.SerializeAsString();
  std::vector<size_t> boundaries = {0};
  for (const v1::WatchEvent& e : r.events()) {
    v1::WatchResponse one;
    *one.add_events() = e;
    boundaries.push_back(boundaries.back() + one.ByteSizeLong());
  }
  ASSERT_EQ(boundaries.back(), bytes.size());
  for (size_t n = 1; n < bytes.size(); ++n) {
    grpc::ByteBuffer buffer = Buffer(bytes.substr(0, n), 2);
    std::vector<ScannedEvent> events;
    const bool at_boundary =
        std::find(boundaries.begin(), boundaries.end(), n) != boundaries.end();
    EXPECT_EQ(ScanWatchResponse(&buffer, &events), at_boundary) << "prefix of " << n << " bytes";
  }
}

}  // namespace
}  // namespace slicekeeper::bench
