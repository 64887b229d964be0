// SummaryCache against query::Summarize over a random sequence of service snapshots whose slices
// are shared between versions as the store shares them.
#include "server/ui/internal/summary.h"

#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/query/merge.h"
#include "tests/query/snapshot_builder.h"

namespace slicekeeper::ui::internal {
namespace {

using query::testing::E;
using query::testing::MakeSlice;
using query::testing::SliceSpec;

class RandomSlices {
 public:
  explicit RandomSlices(uint32_t seed) : rng_(seed) {}
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }

  // A new version of slice `name`: 0-8 endpoints with addresses from a small pool (so addresses
  // repeat across slices now and then), any conditions and zones; sometimes foreign or FQDN.
  SlicePtr Slice(const std::string& name) {
    SliceSpec spec{.name = name};
    spec.service_label = Pick(10) != 0;
    if (Pick(10) == 0) spec.address_type = kAddressTypeFQDN;
    const int n = Pick(9);
    for (int i = 0; i < n; ++i) {
      if (Pick(20) == 0) {
        spec.endpoints.push_back(v1::Endpoint());  // no address
        continue;
      }
      E e(absl::StrCat("10.0.", Pick(2), ".", Pick(40)));
      if (Pick(3) == 0) e.Ready(Pick(2) == 0);
      if (Pick(3) == 0) e.Serving(Pick(2) == 0);
      if (Pick(3) == 0) e.Terminating(Pick(2) == 0);
      if (Pick(4) != 0) e.Zone(absl::StrCat("zone-", Pick(3)));
      spec.endpoints.push_back(e);
    }
    return MakeSlice(spec);
  }

  // A new version of `old` as the store makes one: the same endpoint objects but for a few
  // removed, added (taken from a fresh random slice) or swapped.
  SlicePtr Edit(const SlicePtr& old) {
    auto s = std::make_shared<slicekeeper::Slice>(*old);
    for (int k = Pick(3); k > 0 && !s->endpoints.empty(); --k) {
      s->endpoints.erase(Pick(static_cast<int>(s->endpoints.size())));
    }
    const SlicePtr fresh = Slice(old->name);
    for (int k = Pick(3); k > 0 && !fresh->endpoints.empty(); --k) {
      s->endpoints.push_back(fresh->endpoints[Pick(static_cast<int>(fresh->endpoints.size()))]);
    }
    if (s->endpoints.size() > 1 && Pick(3) == 0) {
      const EndpointPtr first = s->endpoints.front();
      s->endpoints.Set(0, s->endpoints.back());
      s->endpoints.Set(s->endpoints.size() - 1, first);
    }
    return s;
  }

 private:
  std::mt19937 rng_;
};

bool CountedSlice(const SlicePtr& s) {
  return !s->ServiceName().empty() && s->address_type != kAddressTypeFQDN;
}

// Each snapshot replaces, adds or drops a few slices and keeps the rest as the same objects: the
// cache must give Summarize's answer every time. With entries kept (the service has more than
// `keep_above` counted endpoints) it reads only the slice versions it has not seen and holds one
// key per counted endpoint; otherwise it holds none and reads the next snapshot whole. Returns how
// many steps kept their entries.
int RunAgainstSummarize(int64_t keep_above, uint32_t seed, int64_t* repeats) {
  RandomSlices r(seed);
  SummaryCache cache(keep_above);
  std::vector<SlicePtr> slices;
  for (int i = 0; i < 4; ++i) slices.push_back(r.Slice(absl::StrCat("s", i)));
  // The previous snapshot's slices, held so no new slice can take a freed one's address.
  std::vector<SlicePtr> previous;
  bool previous_kept = false;
  int kept_steps = 0;
  int next_name = 4;
  for (int step = 0; step < 2000; ++step) {
    if (step > 0) {
      const int edits = 1 + r.Pick(2);
      for (int k = 0; k < edits; ++k) {
        const int what = r.Pick(10);
        if (what == 0 || slices.empty()) {
          slices.push_back(r.Slice(absl::StrCat("s", next_name++)));
        } else if (what == 1 && slices.size() > 1) {
          slices.erase(slices.begin() + r.Pick(static_cast<int>(slices.size())));
        } else if (what < 4) {
          SlicePtr& s = slices[r.Pick(static_cast<int>(slices.size()))];
          s = r.Slice(s->name);
        } else {
          SlicePtr& s = slices[r.Pick(static_cast<int>(slices.size()))];
          s = r.Edit(s);
        }
      }
    }
    store::ServiceSnapshot snap;
    snap.namespace_ = "ns";
    snap.name = "web";
    snap.mod_revision = step + 1;
    snap.slices = slices;

    absl::flat_hash_set<const Slice*> seen;
    if (previous_kept) {
      for (const SlicePtr& s : previous) seen.insert(s.get());
    }
    int64_t new_counted = 0;
    int64_t counted_endpoints = 0;
    for (const SlicePtr& s : slices) {
      if (!CountedSlice(s)) continue;
      new_counted += !seen.contains(s.get());
      for (const EndpointPtr& e : s->endpoints) counted_endpoints += e->addresses_size() > 0;
    }
    const int64_t read_before = cache.slices_read();
    const v1::ServiceSummary got = ToProto(cache.Update(snap), "ns", "web");
    const v1::ServiceSummary want = query::Summarize(snap);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got, want))
        << "step " << step << "\ngot:  " << got.ShortDebugString()
        << "\nwant: " << want.ShortDebugString();
    EXPECT_EQ(cache.slices_read() - read_before, new_counted) << "step " << step;
    // One key per counted endpoint, or none: those that left a slice's version took theirs along.
    previous_kept = counted_endpoints > keep_above;
    EXPECT_EQ(cache.keys_held(), previous_kept ? counted_endpoints : 0) << "step " << step;
    if (::testing::Test::HasFailure()) break;
    kept_steps += previous_kept;
    previous = slices;
  }
  *repeats = cache.repeats();
  return kept_steps;
}

TEST(SummaryCacheTest, EqualsSummarizeAndReadsOnlyNewSlices) {
  int64_t repeats = 0;
  EXPECT_EQ(RunAgainstSummarize(/*keep_above=*/-1, 20261204, &repeats), 2000);
  // Repeated addresses were corrected for (the pool of 80 addresses makes them common).
  EXPECT_GT(repeats, 100);
}

// A service that crosses `keep_above` both ways drops its entries and builds them again: the
// random service's counted endpoints range about 0-40, so both happen hundreds of times.
TEST(SummaryCacheTest, SmallServicesKeepNothingAndStillEqualSummarize) {
  int64_t repeats = 0;
  const int kept = RunAgainstSummarize(/*keep_above=*/14, 20261205, &repeats);
  EXPECT_GT(kept, 200);
  EXPECT_LT(kept, 1800);
  EXPECT_GT(repeats, 100);
}

// Two different addresses with the same 32-bit key (found by search: absl's hash is seeded per
// process) are two endpoints, in every combination with a real repeat of one of them.
TEST(SummaryCacheTest, KeyCollisionsCountDifferentAddressesApart) {
  absl::flat_hash_map<uint32_t, std::string> seen;
  std::string a, b;
  for (int i = 0; a.empty(); ++i) {
    ASSERT_LT(i, 1 << 24) << "no 32-bit collision among 16 M addresses";
    std::string address = absl::StrCat("10.", (i >> 16) & 255, ".", (i >> 8) & 255, ".", i & 255);
    auto [it, inserted] = seen.try_emplace(SummaryCache::AddressKey(address), address);
    if (!inserted) {
      a = it->second;
      b = std::move(address);
    }
  }
  ASSERT_NE(a, b);
  SummaryCache cache(/*keep_above=*/-1);
  SliceSpec s1{.name = "s1", .service_label = true};
  s1.endpoints = {E(a).Zone("zone-a"), E(b).Ready(false).Zone("zone-b")};
  SliceSpec s2{.name = "s2", .service_label = true};
  s2.endpoints = {E(b).Terminating(true).Zone("zone-b"), E("10.9.9.9"), E(a).Serving(false)};
  store::ServiceSnapshot snap;
  snap.namespace_ = "ns";
  snap.name = "web";
  snap.mod_revision = 1;
  snap.slices = {MakeSlice(s1), MakeSlice(s2)};
  for (int version = 0; version < 2; ++version) {
    const v1::ServiceSummary got = ToProto(cache.Update(snap), "ns", "web");
    const v1::ServiceSummary want = query::Summarize(snap);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(got, want))
        << "got:  " << got.ShortDebugString() << "\nwant: " << want.ShortDebugString();
    EXPECT_EQ(got.endpoints().total(), 3);  // a, b and 10.9.9.9
    // The second version drops s2's copy of `a`: `b`'s two entries and `a` still share a key.
    SliceSpec edited = s2;
    edited.endpoints.pop_back();
    snap.slices = {snap.slices[0], MakeSlice(edited)};
  }
  EXPECT_GT(cache.repeats(), 0);
}

}  // namespace
}  // namespace slicekeeper::ui::internal
