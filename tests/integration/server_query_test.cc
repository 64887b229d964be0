// Integration tests against the real slicekeeper binary: QueryEndpoints filters and kube-proxy's
// ROUTABLE fallback, and ListEndpointSlices paging that stays at one revision across writes.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/server_fixture.h"

namespace slicekeeper::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

v1::EndpointChange Located(v1::EndpointChange c, const std::string& zone, const std::string& node) {
  c.mutable_endpoint()->set_zone(zone);
  c.mutable_endpoint()->set_node_name(node);
  return c;
}

v1::QueryEndpointsRequest Request(v1::EndpointCondition condition) {
  v1::QueryEndpointsRequest r;
  r.set_namespace_("shop");
  r.set_service("web");
  r.set_condition(condition);
  return r;
}

using ServerQueryTest = ServerTest;

// Zone (exact and preferred with fallback), node, port name and condition filters.
TEST_F(ServerQueryTest, QueryEndpointsFilters) {
  auto with_metrics = [](v1::EndpointChange c) {
    *c.add_ports() = Port("metrics", 9090);
    return c;
  };
  ASSERT_TRUE(Apply({with_metrics(Located(Upsert("shop", "web", "10.0.0.1"), "zone-a", "node-1")),
                     with_metrics(Located(
                         WithConditions(Upsert("shop", "web", "10.0.0.2"), false, false, false),
                         "zone-a", "node-2")),
                     with_metrics(Located(
                         WithConditions(Upsert("shop", "web", "10.0.0.3"), false, true, true),
                         "zone-b", "node-3")),
                     Located(Upsert("shop", "web", "10.0.0.4"), "zone-b", "node-3")})
                  .status.ok());

  EXPECT_THAT(Addresses(Request(v1::ANY)),
              ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"));
  EXPECT_THAT(Addresses(Request(v1::READY)), ElementsAre("10.0.0.1", "10.0.0.4"));
  EXPECT_THAT(Addresses(Request(v1::SERVING)), ElementsAre("10.0.0.1", "10.0.0.3", "10.0.0.4"));
  EXPECT_THAT(Addresses(Request(v1::ROUTABLE)), ElementsAre("10.0.0.1", "10.0.0.4"));
  EXPECT_THAT(Addresses(Request(v1::ENDPOINT_CONDITION_UNSPECIFIED)),
              ElementsAre("10.0.0.1", "10.0.0.4"));

  v1::QueryEndpointsRequest r = Request(v1::READY);
  r.set_zone("zone-a");
  EXPECT_THAT(Addresses(r), ElementsAre("10.0.0.1"));
  r.set_zone("zone-c");
  EXPECT_THAT(Addresses(r), IsEmpty());
  r.set_prefer_zone(true);  // zone-c has none: every zone's.
  EXPECT_THAT(Addresses(r), ElementsAre("10.0.0.1", "10.0.0.4"));
  r.set_zone("zone-b");
  EXPECT_THAT(Addresses(r), ElementsAre("10.0.0.4"));

  r = Request(v1::ANY);
  r.set_node("node-3");
  EXPECT_THAT(Addresses(r), ElementsAre("10.0.0.3", "10.0.0.4"));

  r = Request(v1::ANY);
  r.set_port_name("metrics");
  auto by_port = Call(discovery(), &Discovery::Stub::QueryEndpoints, r);
  ASSERT_TRUE(by_port.status.ok()) << Describe(by_port.status);
  ASSERT_THAT(by_port.response.endpoints(), SizeIs(3));  // 10.0.0.4 does not serve "metrics".
  for (const v1::ServiceEndpoint& e : by_port.response.endpoints()) {
    SCOPED_TRACE(e.address());
    ASSERT_THAT(e.ports(), SizeIs(1));
    EXPECT_EQ(e.ports(0).name(), "metrics");
    EXPECT_EQ(e.ports(0).port(), 9090);
    EXPECT_EQ(e.ports(0).protocol(), "TCP");
  }
}

// ROUTABLE: the ready endpoints; when none is ready the serving && terminating ones; when none
// of those either, an empty (OK) answer.
TEST_F(ServerQueryTest, RoutableFallsBackToServingTerminating) {
  ASSERT_TRUE(Apply({Upsert("shop", "web", "10.0.0.1"),
                     WithConditions(Upsert("shop", "web", "10.0.0.2"), false, true, true),
                     WithConditions(Upsert("shop", "web", "10.0.0.3"), false, false, true)})
                  .status.ok());
  EXPECT_THAT(Addresses(Request(v1::ROUTABLE)), ElementsAre("10.0.0.1"));

  // The ready endpoint starts terminating and stops serving: only 10.0.0.2 is routable.
  ASSERT_TRUE(
      Apply({WithConditions(Upsert("shop", "web", "10.0.0.1"), false, false, true)}).status.ok());
  auto fallback = Call(discovery(), &Discovery::Stub::QueryEndpoints, Request(v1::ROUTABLE));
  ASSERT_TRUE(fallback.status.ok()) << Describe(fallback.status);
  ASSERT_THAT(fallback.response.endpoints(), SizeIs(1));
  EXPECT_EQ(fallback.response.endpoints(0).address(), "10.0.0.2");
  EXPECT_TRUE(fallback.response.endpoints(0).conditions().serving());
  EXPECT_TRUE(fallback.response.endpoints(0).conditions().terminating());
  EXPECT_FALSE(fallback.response.endpoints(0).conditions().ready());

  ASSERT_TRUE(
      Apply({WithConditions(Upsert("shop", "web", "10.0.0.2"), false, false, true)}).status.ok());
  auto none = Call(discovery(), &Discovery::Stub::QueryEndpoints, Request(v1::ROUTABLE));
  ASSERT_TRUE(none.status.ok()) << Describe(none.status);
  EXPECT_THAT(none.response.endpoints(), IsEmpty());
  EXPECT_THAT(Addresses(Request(v1::ANY)), SizeIs(3));
}

class PagingTest : public ServerTest {
 protected:
  // Two endpoints per slice, so a few endpoints make many slices to page through.
  std::vector<std::string> ExtraArgs() const override { return {"--max_endpoints_per_slice=2"}; }
};

// name -> (resourceVersion, endpoint count): what a listing says about each slice.
using SliceDigest = std::map<std::string, std::pair<std::string, int>>;

void AddDigest(const v1::ListEndpointSlicesResponse& page, SliceDigest& digest) {
  for (const v1::EndpointSlice& s : page.slices()) {
    EXPECT_TRUE(digest
                    .emplace(s.metadata().name(),
                             std::make_pair(s.metadata().resource_version(), s.endpoints_size()))
                    .second)
        << "slice listed twice: " << s.metadata().name();
  }
}

// Pages of one listing, with writes between them, all report the first page's revision and
// together equal the unpaged listing at that revision.
TEST_F(PagingTest, PagesStayAtOneRevisionAcrossWrites) {
  std::vector<v1::EndpointChange> changes;
  for (const char* service : {"api", "web"}) {
    for (int i = 1; i <= 7; ++i)
      changes.push_back(
          Upsert("shop", service, absl::StrCat("10.", service[0] == 'a' ? 1 : 2, ".0.", i)));
  }
  ASSERT_TRUE(Apply(changes).status.ok());
  auto full = List("shop");
  ASSERT_TRUE(full.status.ok()) << Describe(full.status);
  ASSERT_THAT(full.response.slices(), SizeIs(8));  // 4 slices (2+2+2+1) per service.
  SliceDigest expected;
  AddDigest(full.response, expected);

  v1::ListEndpointSlicesRequest request;
  request.set_namespace_("shop");
  request.set_limit(3);
  auto page = Call(discovery(), &Discovery::Stub::ListEndpointSlices, request);
  ASSERT_TRUE(page.status.ok()) << Describe(page.status);
  const int64_t revision = page.response.revision();
  EXPECT_EQ(revision, full.response.revision());
  SliceDigest paged;
  AddDigest(page.response, paged);
  int pages = 1;
  while (!page.response.continue_().empty()) {
    // A write between every two pages: changes slices on later pages and adds a service.
    auto write = Apply({Remove("shop", "web", absl::StrCat("10.2.0.", pages)),
                        Upsert("shop", "web", absl::StrCat("10.2.1.", pages)),
                        Upsert("shop", absl::StrCat("zz-late-", pages), "10.3.0.1")});
    ASSERT_TRUE(write.status.ok()) << Describe(write.status);
    ASSERT_GT(write.response.revision(), revision);
    request.set_continue_(page.response.continue_());
    page = Call(discovery(), &Discovery::Stub::ListEndpointSlices, request);
    ASSERT_TRUE(page.status.ok()) << Describe(page.status);
    EXPECT_EQ(page.response.revision(), revision);
    EXPECT_LE(page.response.slices_size(), 3);
    AddDigest(page.response, paged);
    ASSERT_LT(++pages, 10) << "paging does not end";
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(paged, expected);

  auto now = List("shop");
  ASSERT_TRUE(now.status.ok()) << Describe(now.status);
  EXPECT_GT(now.response.revision(), revision);
  SliceDigest latest;
  AddDigest(now.response, latest);
  EXPECT_NE(latest, expected);
}

}  // namespace
}  // namespace slicekeeper::integration
