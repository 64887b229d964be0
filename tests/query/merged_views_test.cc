// MergedViews: one merged view per snapshot, shared; the two newest versions of a service kept,
// with the diff between them; DiffViews and the views' shared endpoint bytes.
#include "server/query/merged_views.h"

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/query/merge.h"
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

std::vector<std::string> Addresses(const MergedView& v) {
  return testing::Addresses(v.endpoints());
}

// The addresses of a diff's changes of one kind.
enum class Kind { kAdded, kModified, kRemoved };
std::vector<std::string> Changed(const ViewDiff& d, Kind kind) {
  std::vector<std::string> out;
  for (const ViewDiff::Change& c : d.changes) {
    if (kind == Kind::kAdded && c.before < 0) out.push_back((*d.after)[c.after].address());
    if (kind == Kind::kRemoved && c.after < 0) out.push_back((*d.before)[c.before].address());
    if (kind == Kind::kModified && c.before >= 0 && c.after >= 0) {
      out.push_back((*d.after)[c.after].address());
    }
  }
  return out;
}

MergedViews::Ptr View(const std::vector<SliceSpec>& specs) {
  return std::make_shared<const MergedView>(Version(1, specs));
}

// DiffViews reports additions, removals and changed endpoints, and nothing for equal ones.
TEST(DiffViewsTest, AddedModifiedRemoved) {
  auto before = View({{.name = "a", .endpoints = {E("10.0.0.1"), E("10.0.0.2"), E("10.0.0.3")}}});
  auto after = View(
      {{.name = "a", .endpoints = {E("10.0.0.2").Ready(false), E("10.0.0.3"), E("10.0.0.4")}}});
  std::shared_ptr<const ViewDiff> d = DiffViews(before, after);
  EXPECT_THAT(Changed(*d, Kind::kAdded), ElementsAre("10.0.0.4"));
  EXPECT_THAT(Changed(*d, Kind::kModified), ElementsAre("10.0.0.2"));
  EXPECT_THAT(Changed(*d, Kind::kRemoved), ElementsAre("10.0.0.1"));
  EXPECT_EQ(d->before, before);
  EXPECT_EQ(d->after, after);
  EXPECT_TRUE(DiffViews(after, after)->changes.empty());
  // Equal contents in two different views are no change.
  EXPECT_TRUE(DiffViews(after, View({{.name = "b",
                                       .endpoints = {E("10.0.0.2").Ready(false), E("10.0.0.3"),
                                                     E("10.0.0.4")}}}))
                  ->changes.empty());
}

// A change in a nested field only (a zone hint, the port list) is a modification.
TEST(DiffViewsTest, NestedFieldChangesAreModifications) {
  auto before = View({{.name = "a", .endpoints = {E("10.0.0.1").Zone("z1"), E("10.0.0.2")}}});
  auto hinted =
      View({{.name = "a", .endpoints = {E("10.0.0.1").Zone("z1").ZoneHint("z1"), E("10.0.0.2")}}});
  EXPECT_THAT(Changed(*DiffViews(before, hinted), Kind::kModified), ElementsAre("10.0.0.1"));
  auto ported = View({{.name = "a",
                       .endpoints = {E("10.0.0.1").Zone("z1"), E("10.0.0.2")},
                       .ports = {Port("http", 81)}}});
  EXPECT_THAT(Changed(*DiffViews(before, ported), Kind::kModified),
              ElementsAre("10.0.0.1", "10.0.0.2"));
}

// A view encodes each endpoint once, on demand, and returns the same bytes after.
TEST(MergedViewTest, BytesAreTheEndpointsEncodingKeptOnce) {
  auto view = View({{.name = "a", .endpoints = {E("10.0.0.1").Zone("z1"), E("10.0.0.2")}}});
  ASSERT_EQ(view->size(), 2u);
  const std::string& b0 = view->Bytes(0);
  EXPECT_EQ(b0, (*view)[0].SerializeAsString());
  EXPECT_EQ(&view->Bytes(0), &b0);
  EXPECT_EQ(view->Bytes(1), (*view)[1].SerializeAsString());
  EXPECT_EQ(view->namespace_(), Version(1, {})->namespace_);
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

// The diff between a service's two newest versions is computed once and shared; other pairs are
// computed on demand and not kept.
TEST(MergedViewsTest, SharesTheDiffOfTheTwoNewestVersions) {
  MergedViews views;
  auto v1 = Version(1, {{.name = "a", .endpoints = {E("10.0.0.1")}}});
  auto v2 = Version(2, {{.name = "a", .endpoints = {E("10.0.0.1"), E("10.0.0.2")}}});
  auto v3 = Version(3, {{.name = "a", .endpoints = {E("10.0.0.2")}}});
  std::shared_ptr<const ViewDiff> d12 = views.Diff(v1, v2);
  EXPECT_THAT(Changed(*d12, Kind::kAdded), ElementsAre("10.0.0.2"));
  EXPECT_EQ(views.Diff(v1, v2), d12);
  EXPECT_EQ(d12->after, views.Get(v2));  // the shared view, with its shared bytes
  std::shared_ptr<const ViewDiff> d23 = views.Diff(v2, v3);
  EXPECT_THAT(Changed(*d23, Kind::kRemoved), ElementsAre("10.0.0.1"));
  EXPECT_EQ(views.Diff(v2, v3), d23);
  // A lagging subscriber's pair: right, but not the kept one.
  std::shared_ptr<const ViewDiff> d13 = views.Diff(v1, v3);
  EXPECT_THAT(Changed(*d13, Kind::kAdded), ElementsAre("10.0.0.2"));
  EXPECT_THAT(Changed(*d13, Kind::kRemoved), ElementsAre("10.0.0.1"));
  EXPECT_EQ(views.Diff(v2, v3), d23);
  // To or from nothing: every endpoint.
  EXPECT_THAT(Changed(*views.Diff(nullptr, v2), Kind::kAdded), ElementsAre("10.0.0.1", "10.0.0.2"));
  EXPECT_THAT(Changed(*views.Diff(v3, nullptr), Kind::kRemoved), ElementsAre("10.0.0.2"));
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
