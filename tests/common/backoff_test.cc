#include "common/backoff.h"

#include <algorithm>

#include "gtest/gtest.h"

namespace slicekeeper {
namespace {

// Without jitter the delays are initial * multiplier^n, capped at max; Reset starts over.
TEST(BackoffTest, ExactStepsWithoutJitter) {
  Backoff b(BackoffOptions{.initial = absl::Milliseconds(10),
                           .max = absl::Milliseconds(50),
                           .multiplier = 2,
                           .jitter = 0});
  EXPECT_EQ(b.Next(), absl::Milliseconds(10));
  EXPECT_EQ(b.Next(), absl::Milliseconds(20));
  EXPECT_EQ(b.Next(), absl::Milliseconds(40));
  EXPECT_EQ(b.Next(), absl::Milliseconds(50));
  EXPECT_EQ(b.Next(), absl::Milliseconds(50));
  b.Reset();
  EXPECT_EQ(b.Next(), absl::Milliseconds(10));
}

// With jitter every delay stays within +/- jitter of its step, and the delays are not all equal.
TEST(BackoffTest, JitterStaysWithinBounds) {
  const BackoffOptions options{.initial = absl::Milliseconds(100),
                               .max = absl::Milliseconds(100),
                               .multiplier = 2,
                               .jitter = 0.2};
  Backoff b(options);
  absl::Duration lowest = absl::InfiniteDuration(), highest = absl::ZeroDuration();
  for (int i = 0; i < 200; ++i) {
    const absl::Duration d = b.Next();
    EXPECT_GE(d, absl::Milliseconds(80));
    EXPECT_LE(d, absl::Milliseconds(120));
    lowest = std::min(lowest, d);
    highest = std::max(highest, d);
  }
  EXPECT_LT(lowest, highest);
}

}  // namespace
}  // namespace slicekeeper
