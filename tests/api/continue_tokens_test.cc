#include "server/api/continue_tokens.h"

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "tests/fakes/fake_clock.h"
#include "tests/test_util.h"

namespace slicekeeper::api {
namespace {

using ::slicekeeper::testing::FakeClock;
using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;

ListingPtr MakeListing(int n, int64_t revision, std::string filter_key = "ns\nsvc\n") {
  auto listing = std::make_shared<Listing>();
  listing->revision = revision;
  listing->filter_key = std::move(filter_key);
  for (int i = 0; i < n; ++i) {
    auto slice = std::make_shared<Slice>();
    slice->name = "s" + std::to_string(i);
    listing->slices.push_back(slice);
  }
  return listing;
}

class ContinueTokensTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  ContinueTokens tokens_{ContinueTokens::Options{
      .capacity = 3, .ttl = absl::Minutes(1), .clock = &clock_}};
};

// A token resolves to the same pinned listing and the offset it was issued for.
TEST_F(ContinueTokensTest, RoundTripsListingAndOffset) {
  ListingPtr listing = MakeListing(10, 42);
  std::string token = tokens_.Put(listing, 4);
  absl::StatusOr<ContinueTokens::Page> page = tokens_.Get(token, listing->filter_key);
  ASSERT_OK(page);
  EXPECT_EQ(page->listing, listing);
  EXPECT_EQ(page->offset, 4);
  EXPECT_EQ(page->listing->revision, 42);
}

// Paging one listing reuses one cache entry.
TEST_F(ContinueTokensTest, OneEntryPerListing) {
  ListingPtr listing = MakeListing(10, 1);
  std::string t1 = tokens_.Put(listing, 2);
  std::string t2 = tokens_.Put(listing, 4);
  EXPECT_NE(t1, t2);
  EXPECT_EQ(tokens_.size(), 1);
}

// A token unused for longer than the TTL reads as OUT_OF_RANGE with the restart hint.
TEST_F(ContinueTokensTest, ExpiresAfterTtl) {
  ListingPtr listing = MakeListing(10, 1);
  std::string token = tokens_.Put(listing, 2);
  clock_.Advance(absl::Seconds(59));
  ASSERT_OK(tokens_.Get(token, listing->filter_key));  // a use refreshes the entry
  clock_.Advance(absl::Seconds(59));
  ASSERT_OK(tokens_.Get(token, listing->filter_key));
  clock_.Advance(absl::Seconds(61));
  EXPECT_THAT(tokens_.Get(token, listing->filter_key),
              StatusIs(absl::StatusCode::kOutOfRange,
                       HasSubstr("continue token expired, restart the list")));
}

// The cache is bounded: the least recently used listing is evicted.
TEST_F(ContinueTokensTest, EvictsLeastRecentlyUsedWhenFull) {
  ListingPtr a = MakeListing(5, 1), b = MakeListing(5, 2), c = MakeListing(5, 3);
  ListingPtr d = MakeListing(5, 4);
  std::string ta = tokens_.Put(a, 1);
  clock_.Advance(absl::Seconds(1));
  std::string tb = tokens_.Put(b, 1);
  clock_.Advance(absl::Seconds(1));
  std::string tc = tokens_.Put(c, 1);
  clock_.Advance(absl::Seconds(1));
  ASSERT_OK(tokens_.Get(ta, a->filter_key));  // a is now more recent than b
  clock_.Advance(absl::Seconds(1));
  tokens_.Put(d, 1);
  EXPECT_EQ(tokens_.size(), 3);
  EXPECT_OK(tokens_.Get(ta, a->filter_key));
  EXPECT_THAT(tokens_.Get(tb, b->filter_key), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("expired")));
  EXPECT_OK(tokens_.Get(tc, c->filter_key));
}

// Garbage, a negative or out-of-range offset, and an unknown id are told apart.
TEST_F(ContinueTokensTest, RejectsMalformedTokens) {
  ListingPtr listing = MakeListing(3, 1);
  tokens_.Put(listing, 1);
  EXPECT_THAT(tokens_.Get("not base64!", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("continue")));
  EXPECT_THAT(tokens_.Get(absl::WebSafeBase64Escape("12"), ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed")));
  EXPECT_THAT(tokens_.Get(absl::WebSafeBase64Escape("12:-1"), ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed")));
  EXPECT_THAT(tokens_.Get(absl::WebSafeBase64Escape("12:1"), listing->filter_key),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("expired")));
}

// A token cannot be replayed against a listing with other filters.
TEST_F(ContinueTokensTest, RejectsOtherFilters) {
  ListingPtr listing = MakeListing(3, 1, "ns\nweb\n");
  std::string token = tokens_.Put(listing, 1);
  EXPECT_THAT(tokens_.Get(token, "ns\napi\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("other filters")));
}

}  // namespace
}  // namespace slicekeeper::api
