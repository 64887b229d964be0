// The Kubernetes API's reads over real HTTP: discovery, get, list paging consistent across
// concurrent writes, continue-token expiry, resourceVersion semantics, Tables and errors.
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/k8s/api_fixture.h"

namespace slicekeeper::k8s {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What kubectl reads first: the group, its resource, the version, and the OpenAPI stub that makes
// kubectl validate on the server.
TEST_F(ApiTest, DiscoveryDocuments) {
  EXPECT_EQ(At(GetJson("/version"), {"minor"}).string_value(), "32");
  const Value groups = GetJson("/apis");
  EXPECT_EQ(At(groups.struct_value().fields().at("groups").list_value().values(0),
               {"preferredVersion", "groupVersion"}).string_value(),
            "discovery.k8s.io/v1");
  const Value resources = GetJson("/apis/discovery.k8s.io/v1");
  const Value& slices = At(resources, {"resources"}).list_value().values(0);
  EXPECT_EQ(At(slices, {"name"}).string_value(), "endpointslices");
  EXPECT_TRUE(At(slices, {"namespaced"}).bool_value());
  EXPECT_EQ(At(GetJson("/api"), {"versions"}).list_value().values(0).string_value(), "v1");
  const Value index = GetJson("/openapi/v3");
  const std::string url =
      At(index, {"paths", "apis/discovery.k8s.io/v1", "serverRelativeURL"}).string_value();
  EXPECT_THAT(Request("GET", url).body, HasSubstr(R"("name":"fieldValidation","in":"query")"));
  EXPECT_EQ(Request("POST", "/apis").status, 405);
  EXPECT_EQ(Request("GET", "/apis/apps/v1").status, 404);
}

// A get returns the stored version; a missing object is a NotFound Status.
TEST_F(ApiTest, GetObject) {
  Put("a", "web", 1);
  const Value got = GetJson(absl::StrCat(kSlices, "/a"));
  EXPECT_EQ(At(got, {"metadata", "resourceVersion"}).string_value(), "1");
  EXPECT_EQ(Request("GET", absl::StrCat(kSlices, "/a")).body,
            EncodeSlice(*store_->GetSlice("ns", "a")->first));
  const Value missing = GetJson(absl::StrCat(kSlices, "/nope"), 404);
  EXPECT_EQ(At(missing, {"reason"}).string_value(), "NotFound");
  EXPECT_EQ(At(missing, {"details", "kind"}).string_value(), "endpointslices");
}

// Every page of a paged list reflects the first page's revision, whatever is written between
// pages, and the pages together are exactly the store's state at that revision.
TEST_F(ApiTest, ListPagesReadOneRevisionDuringWrites) {
  for (int i = 0; i < 30; ++i) Put(absl::StrCat("s", 100 + i), absl::StrCat("svc", i % 3), i);
  std::map<std::string, std::string> listed;
  std::string token;
  int64_t first_revision = 0;
  for (int page = 0;; ++page) {
    std::string target = absl::StrCat(kSlices, "?limit=7");
    if (!token.empty()) absl::StrAppend(&target, "&continue=", token);
    const Value list = GetJson(target);
    const int64_t rv = std::stoll(At(list, {"metadata", "resourceVersion"}).string_value());
    if (page == 0) first_revision = rv;
    EXPECT_EQ(rv, first_revision);
    for (const Value& item : At(list, {"items"}).list_value().values()) {
      listed[At(item, {"metadata", "name"}).string_value()] =
          At(item, {"metadata", "resourceVersion"}).string_value();
    }
    token = At(list, {"metadata", "continue"}).string_value();
    if (token.empty()) break;
    EXPECT_EQ(At(list, {"metadata", "remainingItemCount"}).number_value(), 30 - 7 * (page + 1));
    // Writes between pages: a listed and an unlisted slice change, one goes, one is new.
    Put(absl::StrCat("s", 100 + page), absl::StrCat("svc", page % 3), 500 + page);
    Put(absl::StrCat("s", 129 - page), absl::StrCat("svc", (29 - page) % 3), 600 + page);
    ASSERT_OK(store_->DeleteSlice("ns", absl::StrCat("s", 115 + page)));
    Put(absl::StrCat("new", page), "svc1", 700 + page);
  }
  std::map<std::string, std::string> expected;
  absl::StatusOr<store::CatalogPtr> then = store_->SnapshotAt("ns", first_revision);
  ASSERT_OK(then);
  for (const store::ServiceSnapshotPtr& s : (*then)->services) {
    for (const SlicePtr& slice : s->slices) {
      expected[slice->name] = absl::StrCat(slice->resource_version);
    }
  }
  EXPECT_EQ(listed.size(), 30u);
  EXPECT_EQ(listed, expected);
  // The same revision read again with resourceVersionMatch=Exact.
  const Value exact = GetJson(absl::StrCat(kSlices, "?resourceVersion=", first_revision,
                                           "&resourceVersionMatch=Exact"));
  EXPECT_EQ(At(exact, {"items"}).list_value().values_size(), 30);
}

class SmallHistoryTest : public ApiTest {
 protected:
  SmallHistoryTest() { history_size_ = 10; }
};

// A token or an Exact revision older than the history is 410 Expired; a malformed token 400.
TEST_F(SmallHistoryTest, ExpiredReads) {
  for (int i = 0; i < 5; ++i) Put(absl::StrCat("s", i), "web", i);
  const Value first = GetJson(absl::StrCat(kSlices, "?limit=2"));
  const std::string token = At(first, {"metadata", "continue"}).string_value();
  ASSERT_FALSE(token.empty());
  for (int i = 0; i < 20; ++i) Put("s0", "web", 100 + i);
  const Value expired = GetJson(absl::StrCat(kSlices, "?limit=2&continue=", token), 410);
  EXPECT_EQ(At(expired, {"reason"}).string_value(), "Expired");
  EXPECT_THAT(At(expired, {"message"}).string_value(), HasSubstr("continue parameter is too old"));
  const Value old = GetJson(absl::StrCat(kSlices, "?resourceVersion=2&resourceVersionMatch=Exact"),
                            410);
  EXPECT_EQ(At(old, {"code"}).number_value(), 410);
  EXPECT_EQ(At(GetJson(absl::StrCat(kSlices, "?continue=garbage"), 400), {"reason"}).string_value(),
            "BadRequest");
}

// resourceVersion semantics: Exact reads the past, a future revision is 504 after the wait, and
// the apiserver's parameter rules are enforced.
TEST_F(ApiTest, ResourceVersionSemantics) {
  const int64_t r1 = Put("a", "web", 1);
  Put("a", "web", 2);
  const Value past =
      GetJson(absl::StrCat(kSlices, "?resourceVersion=", r1, "&resourceVersionMatch=Exact"));
  EXPECT_EQ(At(past, {"metadata", "resourceVersion"}).string_value(), absl::StrCat(r1));
  EXPECT_EQ(At(past.struct_value().fields().at("items").list_value().values(0),
               {"metadata", "resourceVersion"}).string_value(),
            absl::StrCat(r1));
  EXPECT_EQ(At(GetJson(absl::StrCat(kSlices, "?resourceVersion=0")), {"metadata", "resourceVersion"})
                .string_value(),
            "2");
  const Value future = GetJson(absl::StrCat(kSlices, "?resourceVersion=99"), 504);
  EXPECT_EQ(At(future, {"details", "causes"}).list_value().values(0).struct_value().fields().at(
                "reason").string_value(),
            "ResourceVersionTooLarge");
  GetJson(absl::StrCat(kSlices, "?resourceVersionMatch=Exact"), 400);
  GetJson(absl::StrCat(kSlices, "?resourceVersion=0&resourceVersionMatch=Exact"), 400);
  GetJson(absl::StrCat(kSlices, "?resourceVersion=x"), 400);
  GetJson(absl::StrCat(kSlices, "?limit=1&continue=x&resourceVersion=1"), 400);
}

// Selectors filter lists; an unsupported field selector is a BadRequest.
TEST_F(ApiTest, ListSelectors) {
  Put("a", "web", 1);
  Put("b", "api", 2);
  auto names = [&](const std::string& query) {
    std::vector<std::string> out;
    const Value list = GetJson(absl::StrCat(kAllSlices, "?", query));
    for (const Value& item : At(list, {"items"}).list_value().values()) {
      out.push_back(At(item, {"metadata", "name"}).string_value());
    }
    return out;
  };
  EXPECT_THAT(names("labelSelector=kubernetes.io%2Fservice-name%3Dapi"), ElementsAre("b"));
  EXPECT_THAT(names("fieldSelector=metadata.name%21%3Db"), ElementsAre("a"));
  EXPECT_THAT(names("fieldSelector=metadata.namespace%3Dother"), ElementsAre());
  EXPECT_THAT(At(GetJson(absl::StrCat(kAllSlices, "?fieldSelector=spec.x%3D1"), 400), {"message"})
                  .string_value(),
              HasSubstr("field label not supported"));
}

// kubectl's Accept header gets a Table with the printer's columns and row metadata.
TEST_F(ApiTest, TableOutput) {
  Put("a", "web", 1);
  testing::HttpReply r =
      Request("GET", kSlices, "",
              {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const Value table = Json(r.body);
  EXPECT_EQ(At(table, {"kind"}).string_value(), "Table");
  const auto& columns = At(table, {"columnDefinitions"}).list_value().values();
  ASSERT_EQ(columns.size(), 5);
  EXPECT_EQ(At(columns[3], {"name"}).string_value(), "Endpoints");
  const Value& row = At(table, {"rows"}).list_value().values(0);
  EXPECT_EQ(At(row, {"cells"}).list_value().values(3).string_value(), "10.0.0.2");
  EXPECT_EQ(At(row, {"object", "metadata", "namespace"}).string_value(), "ns");
  EXPECT_EQ(Request("GET", kSlices, "", {{"Accept", "application/yaml"}}).status, 406);
}

}  // namespace
}  // namespace slicekeeper::k8s
