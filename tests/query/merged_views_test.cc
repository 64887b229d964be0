// MergedViews: one merged view per snapshot, shared; the two newest versions of a service kept.
#include "server/query/merged_views.h"

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/query/query.h"
#include "tests/query/snapshot_builder.h"

namespace slicekeeper::query {
namespace {

using ::testing::ElementsAre;
using namespace ::slicekeeper::query::testing;  // NOLINT: test builders

store::ServiceSnapshotPtr Version(int64_t revision, const std::vector<SliceSpec>& specs) {
  auto s = std::make_shared<store::ServiceSnapshot>(Snap(specs));
  s->mod_revision = revision;
  return s;
}

TEST(MergedViewsTest, SharesOneViewPerSnapshotAndKeepsThePreviousVersion) {
  MergedViews views;
  auto v1 = Version(1, {{.name = "a", .endpoints = {E("10.0.0.1")}}});
  auto v2 = Version(2, {{.name = "a", .endpoints = {E("10.0.0.1"), E("10.0.0.2")}}});
  auto v3 = Version(3, {{.name = "a", .endpoints = {E("10.0.0.3")}}});

  MergedViews::Ptr first = views.Get(v1);
  EXPECT_THAT(Addresses(*first), ElementsAre("10.0.0.1"));
  EXPECT_EQ(views.Get(v1), first);  // merged once, shared
  MergedViews::Ptr second = views.Get(v2);
  EXPECT_THAT(Addresses(*second), ElementsAre("10.0.0.1", "10.0.0.2"));
  // A watcher diffing v1 -> v2 finds both without merging again.
  EXPECT_EQ(views.Get(v1), first);
  EXPECT_EQ(views.Get(v2), second);
  // v3 pushes v1 out; v2 stays as the previous version.
  MergedViews::Ptr third = views.Get(v3);
  EXPECT_EQ(views.Get(v2), second);
  EXPECT_EQ(views.Get(v3), third);
  MergedViews::Ptr again = views.Get(v1);
  EXPECT_NE(again, first);  // merged anew
  EXPECT_THAT(Addresses(*again), ElementsAre("10.0.0.1"));
  // An older snapshot asked late never displaces the newest.
  EXPECT_EQ(views.Get(v3), third);
  EXPECT_TRUE(views.Get(nullptr)->empty());
}

TEST(MergedViewsTest, StartsOverBeyondItsServiceBound) {
  MergedViews views(/*max_services=*/1);
  auto web = Version(1, {{.name = "a", .endpoints = {E("10.0.0.1")}}});
  auto other = std::make_shared<store::ServiceSnapshot>(*web);
  other->name = "other";
  MergedViews::Ptr w = views.Get(web);
  views.Get(other);
  EXPECT_NE(views.Get(web), w);  // dropped when "other" came in
}

}  // namespace
}  // namespace slicekeeper::query
