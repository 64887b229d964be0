// The strict Prometheus text parser used by the /metrics integration test accepts the format and
// rejects what a broken exporter would write.
#include "tests/integration/prometheus_text.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace slicekeeper::integration {
namespace {

using ::testing::HasSubstr;

constexpr char kValid[] =
    "# HELP requests_total Requests, by code.\n"
    "# TYPE requests_total counter\n"
    "requests_total{method=\"Apply\",code=\"OK\"} 3\n"
    "requests_total{method=\"a\\\"b\\\\c\\n\",code=\"OK\"} 1e3\n"
    "# TYPE up gauge\n"
    "up 1 1700000000000\n"
    "# TYPE lat histogram\n"
    "lat_bucket{le=\"0.1\"} 1\n"
    "lat_bucket{le=\"+Inf\"} 2\n"
    "lat_sum 0.25\n"
    "lat_count 2\n";

// A well-formed exposition parses into families and series, with label escapes undone.
TEST(PrometheusTextTest, ParsesValidExposition) {
  auto parsed = ParsePrometheusText(kValid);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->families.at("requests_total").type, "counter");
  EXPECT_EQ(parsed->families.at("requests_total").help, "Requests, by code.");
  EXPECT_EQ(parsed->Value("requests_total", {{"method", "Apply"}, {"code", "OK"}}), 3);
  EXPECT_EQ(parsed->Value("requests_total", {{"method", "a\"b\\c\n"}, {"code", "OK"}}), 1000);
  EXPECT_EQ(parsed->Value("up"), 1);
  EXPECT_EQ(parsed->Value("lat_count"), 2);
  EXPECT_FALSE(parsed->Value("missing").has_value());
}

// Each malformed input is rejected with the line it failed on.
TEST(PrometheusTextTest, RejectsMalformedInput) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"up 1\n", "without TYPE"},
      {"# TYPE up gauge\nup 1", "not terminated"},
      {"# TYPE up gauge\nup  1\n", "bad value"},
      {"# TYPE up gauge\nup one\n", "bad value"},
      {"# TYPE up gauge\nup{a=\"x\\t\"} 1\n", "bad escape"},
      {"# TYPE up gauge\nup{a=x} 1\n", "expected =\""},
      {"# TYPE up gauge\nup{a=\"x\"b=\"y\"} 1\n", "expected , or }"},
      {"# TYPE up gauge\nup 1\nup 2\n", "series repeated"},
      {"# TYPE up gauge\n# TYPE up counter\n", "second TYPE"},
      {"# TYPE up gauge\nup 1\n# TYPE x gauge\nx 1\nup{a=\"b\"} 1\n", "not one group"},
      {"# TYPE up widget\n", "unknown type"},
      {"# TYPE 1up gauge\n", "bad metric name"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
       "not cumulative"},
      {"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n", "must agree"},
      {"# TYPE h histogram\nh_bucket 2\n", "without TYPE"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto parsed = ParsePrometheusText(c.text);
    ASSERT_FALSE(parsed.ok());
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.error));
  }
}

}  // namespace
}  // namespace slicekeeper::integration
