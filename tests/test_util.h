// Test helpers shared by every test binary (LevelDB testutil.h): status assertions and matchers
// that absl 20220623 lacks.
//
// Thread-safety: the macros may be used from any gtest thread.
#ifndef SLICEKEEPER_TESTS_TEST_UTIL_H_
#define SLICEKEEPER_TESTS_TEST_UTIL_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace slicekeeper::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// IsOkAndHolds(m): a StatusOr that is OK and whose value matches m.
MATCHER_P(IsOkAndHolds, m, "") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(m, *arg, result_listener);
}

// StatusIs(code, message_matcher).
MATCHER_P2(StatusIs, code, msg, "") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code && ::testing::ExplainMatchResult(msg, std::string(s.message()),
                                                           result_listener);
}

}  // namespace slicekeeper::testing

// Each evaluates `expr` once.
#define EXPECT_OK(expr)                                                  \
  do {                                                                   \
    const auto& sk_expect_ok_ = (expr);                                  \
    EXPECT_TRUE(::slicekeeper::testing::GetStatus(sk_expect_ok_).ok())   \
        << ::slicekeeper::testing::GetStatus(sk_expect_ok_);             \
  } while (0)
#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    const auto& sk_assert_ok_ = (expr);                                  \
    ASSERT_TRUE(::slicekeeper::testing::GetStatus(sk_assert_ok_).ok())   \
        << ::slicekeeper::testing::GetStatus(sk_assert_ok_);             \
  } while (0)

#endif  // SLICEKEEPER_TESTS_TEST_UTIL_H_
