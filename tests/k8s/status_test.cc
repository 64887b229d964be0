// metav1.Status objects and the mapping of store errors.
#include "server/k8s/status.h"

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/k8s/codec.h"

namespace slicekeeper::k8s {
namespace {

using ::testing::HasSubstr;

// A validation error becomes 422 Invalid with one cause per "field: rule", as kubectl prints it.
TEST(StatusTest, ValidationIsInvalidWithCauses) {
  ApiError e = FromStatus(absl::InvalidArgumentError(
                              "endpoints[0].addresses[0]: must be a valid IPv4 address; "
                              "ports[1].name: must be unique; (and 3 more)"),
                          "web-1");
  EXPECT_EQ(e.code, 422);
  EXPECT_EQ(e.reason, "Invalid");
  ASSERT_EQ(e.causes.size(), 3u);
  EXPECT_EQ(e.causes[0].field, "endpoints[0].addresses[0]");
  EXPECT_EQ(e.causes[0].message, "must be a valid IPv4 address");
  EXPECT_EQ(e.causes[2].field, "");
  EXPECT_THAT(e.message, HasSubstr("EndpointSlice.discovery.k8s.io \"web-1\" is invalid: ["));
  const std::string json = StatusJson(e);
  EXPECT_TRUE(absl::StartsWith(
      json, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message")"))
      << json;
  EXPECT_THAT(json, HasSubstr(R"("details":{"name":"web-1","group":"discovery.k8s.io",)"
                              R"("kind":"EndpointSlice","causes":[{"reason":"FieldValueInvalid",)"
                              R"("message":"must be a valid IPv4 address",)"
                              R"("field":"endpoints[0].addresses[0]"})"));
  EXPECT_THAT(json, HasSubstr(R"("code":422})"));
}

// Every store code maps to the apiserver's code and reason.
TEST(StatusTest, CodeTable) {
  struct Case {
    absl::Status status;
    int code;
    const char* reason;
  };
  const Case cases[] = {
      {absl::NotFoundError("x"), 404, "NotFound"},
      {absl::AlreadyExistsError("x"), 409, "AlreadyExists"},
      {absl::AbortedError("x has been modified"), 409, "Conflict"},
      {absl::FailedPreconditionError("managed"), 409, "Conflict"},
      {absl::OutOfRangeError("compacted"), 410, "Expired"},
      {absl::ResourceExhaustedError("full"), 429, "TooManyRequests"},
      {absl::UnavailableError("down"), 503, "ServiceUnavailable"},
      {absl::InternalError("bug"), 500, "InternalError"},
  };
  for (const Case& c : cases) {
    ApiError e = FromStatus(c.status, "s");
    EXPECT_EQ(e.code, c.code) << c.status;
    EXPECT_EQ(e.reason, c.reason) << c.status;
  }
  EXPECT_EQ(FromStatus(absl::NotFoundError("x"), "s").message,
            "endpointslices.discovery.k8s.io \"s\" not found");
  EXPECT_THAT(FromStatus(absl::AbortedError("x has been modified"), "s").message,
              HasSubstr("the object has been modified; please apply your changes"));
  ApiError large = TooLargeResourceVersion(10, 5);
  EXPECT_EQ(large.code, 504);
  EXPECT_THAT(StatusJson(large), HasSubstr(R"("reason":"ResourceVersionTooLarge")"));
  EXPECT_THAT(StatusJson(large), HasSubstr(R"("retryAfterSeconds":1)"));
}

}  // namespace
}  // namespace slicekeeper::k8s
