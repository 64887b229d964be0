// The store's own accounting of memory (Store::memory_usage): 100 k endpoints of realistic pods
// cost no more bytes each than the representation allows, every part is counted where it lives,
// and the figures follow the state (reads, removals). Not timed.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/store/store.h"
#include "tests/store/store_test_util.h"

namespace slicekeeper::store {
namespace {

using namespace ::slicekeeper::store::testing;  // NOLINT: test builders

constexpr int kServices = 1000;
constexpr int kPerService = 100;

// The store's bytes per live endpoint for pod endpoints of Kubernetes' usual shape (as
// bench/memory_bench loads them), counted by Store::memory_usage without serialized caches.
// With 32-byte EndpointRecords and the packed reconciler index this measures 126 B (155 B with
// 56-byte records, 644 B with a protobuf message per endpoint, 575 B of it the messages); a
// change that makes it bigger fails. Lower this bound when the representation shrinks.
constexpr int64_t kMaxBytesPerEndpoint = 140;

v1::EndpointChange PodEndpoint(int service, int i) {
  const int64_t n = int64_t{service} * kPerService + i;
  v1::EndpointChange c = Upsert("bench", absl::StrCat("svc-", service), Ip(n));
  v1::Endpoint* e = c.mutable_endpoint();
  e->mutable_target_ref()->set_name(absl::StrCat("svc-", service, "-7d9f8b6c5-", n));
  e->set_node_name(absl::StrCat("node-", n % 500));
  e->set_zone(absl::StrCat("zone-", n % 3));
  return c;
}

class MemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int s = 0; s < kServices; ++s) {
      std::vector<v1::EndpointChange> batch;
      for (int i = 0; i < kPerService; ++i) batch.push_back(PodEndpoint(s, i));
      ASSERT_TRUE(store_.ApplyChanges(batch).ok());
    }
  }

  Store store_{Store::Options{}};
};

TEST_F(MemoryTest, BytesPerEndpointWithinTheRepresentationsBound) {
  const MemoryUsage u = store_.memory_usage();
  ASSERT_EQ(u.live_endpoints, kServices * kPerService);
  EXPECT_EQ(u.live_endpoints, store_.totals().endpoints);
  // Nothing was read yet: no serialized slice is cached.
  EXPECT_EQ(u.serialized, 0);
  // Every part that holds something is counted.
  EXPECT_GT(u.endpoints, 0);
  EXPECT_GT(u.slices, 0);
  EXPECT_GT(u.services, 0);
  EXPECT_GT(u.reconciler, 0);
  EXPECT_GT(u.history, 0);
  const int64_t per_endpoint = (u.total() - u.history) / u.live_endpoints;
  RecordProperty("bytes_per_endpoint", static_cast<int>(per_endpoint));
  EXPECT_LE(per_endpoint, kMaxBytesPerEndpoint)
      << "endpoints " << u.endpoints << ", slices " << u.slices << ", services " << u.services
      << ", reconciler " << u.reconciler;
  // The endpoints themselves are most of it: at least their serialized size each.
  EXPECT_GE(u.endpoints / u.live_endpoints,
            static_cast<int64_t>(PodEndpoint(0, 0).endpoint().ByteSizeLong()));
  // Measuring again (each slice version is measured once) gives the same figures.
  const MemoryUsage again = store_.memory_usage();
  EXPECT_EQ(again.endpoints, u.endpoints);
  EXPECT_EQ(again.slices, u.slices);
  EXPECT_EQ(again.reconciler, u.reconciler);
}

TEST_F(MemoryTest, SerializedSlicesAreCountedOnceRead) {
  int64_t wire = 0;
  const CatalogPtr catalog = store_.Snapshot("bench");
  for (const ServiceSnapshotPtr& svc : catalog->services) {
    for (const SlicePtr& s : svc->slices)
      wire += static_cast<int64_t>(s->SerializedProto()->size());
  }
  const MemoryUsage u = store_.memory_usage();
  EXPECT_GE(u.serialized, wire);
  EXPECT_LE(u.serialized, wire + int64_t{256} * kServices);  // a few headers per slice
}

TEST_F(MemoryTest, RemovedEndpointsLeaveTheAccount) {
  const MemoryUsage before = store_.memory_usage();
  for (int s = 0; s < kServices; ++s) {
    std::vector<v1::EndpointChange> batch;
    for (int i = 0; i < kPerService / 2; ++i) {
      v1::EndpointChange c = PodEndpoint(s, i);
      c.set_op(v1::EndpointChange::REMOVE);
      batch.push_back(std::move(c));
    }
    ASSERT_TRUE(store_.ApplyChanges(batch).ok());
  }
  const MemoryUsage after = store_.memory_usage();
  EXPECT_EQ(after.live_endpoints, before.live_endpoints / 2);
  EXPECT_NEAR(static_cast<double>(after.endpoints), before.endpoints / 2.0,
              before.endpoints * 0.02);
}

}  // namespace
}  // namespace slicekeeper::store
