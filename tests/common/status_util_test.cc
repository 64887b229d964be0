// Tests of common/status_util.h: absl <-> gRPC status conversion and the early-return macros.
#include "common/status_util.h"

#include <memory>
#include <string>

#include "tests/test_util.h"

namespace slicekeeper {
namespace {

using ::slicekeeper::testing::IsOkAndHolds;
using ::slicekeeper::testing::StatusIs;

// Every canonical code and its message survive absl -> gRPC -> absl unchanged.
TEST(StatusUtilTest, RoundTripsEveryCode) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status in(static_cast<absl::StatusCode>(code), "field: rule " + std::to_string(code));
    grpc::Status g = ToGrpcStatus(in);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    EXPECT_EQ(g.error_message(), in.message());
    EXPECT_EQ(FromGrpcStatus(g), in);
  }
}

// OK maps to OK both ways, and known codes map to their gRPC namesakes.
TEST(StatusUtilTest, NamedCodes) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_OK(FromGrpcStatus(grpc::Status::OK));
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("x")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ToGrpcStatus(absl::OutOfRangeError("x")).error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "svc")),
              StatusIs(absl::StatusCode::kNotFound, "svc"));
}

absl::Status Step(bool fail, int* calls) {
  ++*calls;
  return fail ? absl::AbortedError("conflict") : absl::OkStatus();
}

absl::Status TwoSteps(bool fail_first, int* calls) {
  SK_RETURN_IF_ERROR(Step(fail_first, calls));
  SK_RETURN_IF_ERROR(Step(false, calls));
  return absl::OkStatus();
}

// SK_RETURN_IF_ERROR returns the first error and skips what follows; OK falls through.
TEST(StatusMacrosTest, ReturnIfError) {
  int calls = 0;
  EXPECT_THAT(TwoSteps(true, &calls), StatusIs(absl::StatusCode::kAborted, "conflict"));
  EXPECT_EQ(calls, 1);
  calls = 0;
  EXPECT_OK(TwoSteps(false, &calls));
  EXPECT_EQ(calls, 2);
}

absl::StatusOr<std::unique_ptr<int>> Make(bool fail, int value, int* calls) {
  ++*calls;
  if (fail) return absl::NotFoundError("none");
  return std::make_unique<int>(value);
}

absl::StatusOr<int> Sum(bool fail_second, int* calls) {
  SK_ASSIGN_OR_RETURN(std::unique_ptr<int> a, Make(false, 2, calls));
  SK_ASSIGN_OR_RETURN(auto b, Make(fail_second, 3, calls));
  return *a + *b;
}

// SK_ASSIGN_OR_RETURN moves the value out (move-only types work), evaluates once, and returns
// the error otherwise.
TEST(StatusMacrosTest, AssignOrReturn) {
  int calls = 0;
  EXPECT_THAT(Sum(false, &calls), IsOkAndHolds(5));
  EXPECT_EQ(calls, 2);
  calls = 0;
  EXPECT_THAT(Sum(true, &calls), StatusIs(absl::StatusCode::kNotFound, "none"));
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace slicekeeper
