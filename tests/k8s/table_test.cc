// kubectl's table columns computed as the apiserver's printers do, continue tokens, and the JSON
// cache.
#include "server/k8s/internal/table.h"

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/k8s/codec.h"
#include "server/k8s/internal/continue_token.h"
#include "server/k8s/json_cache.h"
#include "tests/test_util.h"

namespace slicekeeper::k8s::internal {
namespace {

using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;

// duration.HumanDuration's thresholds.
TEST(TableTest, HumanDuration) {
  const std::pair<absl::Duration, const char*> cases[] = {
      {absl::Seconds(-2), "<invalid>"},   {absl::Seconds(-1), "0s"},
      {absl::Seconds(0), "0s"},           {absl::Seconds(119), "119s"},
      {absl::Minutes(2), "2m"},           {absl::Seconds(121), "2m1s"},
      {absl::Seconds(599), "9m59s"},      {absl::Minutes(10), "10m"},
      {absl::Minutes(179), "179m"},       {absl::Hours(3), "3h"},
      {absl::Minutes(181), "3h1m"},       {absl::Minutes(479), "7h59m"},
      {absl::Hours(8), "8h"},             {absl::Hours(47), "47h"},
      {absl::Hours(48), "2d"},            {absl::Hours(49), "2d1h"},
      {absl::Hours(24 * 8), "8d"},        {absl::Hours(24 * 729), "729d"},
      {absl::Hours(24 * 730), "2y"},      {absl::Hours(24 * 731), "2y1d"},
      {absl::Hours(24 * 365 * 9), "9y"},
  };
  for (const auto& [d, text] : cases) EXPECT_EQ(HumanDuration(d), text) << d;
  EXPECT_EQ(Age("", absl::Now()), "<unknown>");
  EXPECT_EQ(Age("2024-01-01T00:00:00Z", absl::FromCivil(absl::CivilSecond(2024, 1, 1, 0, 5, 0),
                                                        absl::UTCTimeZone())),
            "5m");
}

SlicePtr Slice(int ports, int endpoints, int addresses) {
  v1::EndpointSlice s;
  s.mutable_metadata()->set_name("s");
  s.set_address_type("IPv4");
  for (int i = 0; i < ports; ++i) {
    v1::EndpointPort* p = s.add_ports();
    if (i == 1) {
      p->set_name("named");
    } else if (i != 2) {
      p->set_port(80 + i);
    }
  }
  for (int e = 0; e < endpoints; ++e) {
    v1::Endpoint* ep = s.add_endpoints();
    for (int a = 0; a < addresses; ++a) ep->add_addresses(absl::StrCat("10.0.", e, ".", a));
  }
  return SliceFromProto(s);
}

// PORTS and ENDPOINTS list three entries, then " + N more..."; empty is <unset>.
TEST(TableTest, SliceCells) {
  JsonCache cache;
  const absl::Time now = absl::Now();
  TableRow row = SliceRow(Slice(5, 2, 2), 0, Output::RowObject::kNone, now, &cache);
  EXPECT_EQ(row.cells[2], "80,named,* + 2 more...");
  EXPECT_EQ(row.cells[3], "10.0.0.0,10.0.0.1,10.0.1.0 + 1 more...");
  EXPECT_EQ(row.object, "");
  row = SliceRow(Slice(0, 0, 0), 0, Output::RowObject::kMetadata, now, &cache);
  EXPECT_EQ(row.cells[2], "<unset>");
  EXPECT_EQ(row.cells[3], "<unset>");
  EXPECT_THAT(row.object, HasSubstr(R"("kind":"PartialObjectMetadata")"));
  const std::string table = TableJson(SliceColumns(), {row}, TableMeta{7, "tok", 3}, false);
  EXPECT_THAT(table, HasSubstr(R"("metadata":{"resourceVersion":"7","continue":"tok",)"
                               R"("remainingItemCount":3},"columnDefinitions":[{"name":"Name",)"));
  EXPECT_THAT(TableJson(SliceColumns(), {row}, TableMeta{7, "", -1}, true),
              ::testing::Not(HasSubstr("columnDefinitions")));
}

// Continue tokens use the apiserver's format and reject anything else.
TEST(ContinueTokenTest, RoundTripAndErrors) {
  const std::string token = EncodeContinue({12, "prod", "web-1"});
  std::string json;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &json));
  EXPECT_EQ(json, R"({"v":"meta.k8s.io/v1","rv":12,"start":"prod/web-1\u0000"})");
  absl::StatusOr<ContinuePoint> p = DecodeContinue(token);
  ASSERT_OK(p);
  EXPECT_EQ(p->revision, 12);
  EXPECT_EQ(p->ns, "prod");
  EXPECT_EQ(p->name, "web-1");
  EXPECT_THAT(DecodeContinue("!!"), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("continue key is not valid")));
  EXPECT_THAT(DecodeContinue(absl::WebSafeBase64Escape(R"({"v":"x","rv":1,"start":"a/b"})")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not valid")));
}

// The cache shares one encoding per slice version and resourceVersion, and never serves a
// version that died to a new object at the same address.
TEST(JsonCacheTest, SharesAndNeverGoesStale) {
  JsonCache cache(1 << 20);
  SlicePtr a = Slice(1, 1, 1);
  std::shared_ptr<const std::string> first = cache.Get(a);
  EXPECT_EQ(cache.Get(a), first);
  EXPECT_NE(*cache.Get(a, 9), *first);
  EXPECT_EQ(*cache.Get(a, 9), EncodeSlice(*a, 9));
  EXPECT_EQ(cache.stats().hits, 2);
  for (int i = 0; i < 100; ++i) {
    a = Slice(1 + i % 3, 1, 1);  // frees the old version; the allocator may reuse its address
    EXPECT_EQ(*cache.Get(a), EncodeSlice(*a)) << i;
  }
}

}  // namespace
}  // namespace slicekeeper::k8s::internal
