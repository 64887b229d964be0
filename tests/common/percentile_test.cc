#include "common/percentile.h"

#include <vector>

#include "gtest/gtest.h"

namespace slicekeeper {
namespace {

// Nearest rank: the smallest sample with at least ceil(p * n) samples at or below it.
TEST(PercentileTest, NearestRank) {
  std::vector<double> v = {4, 1, 3, 2};
  EXPECT_EQ(Percentile(absl::MakeSpan(v), 0.5), 2);
  EXPECT_EQ(Percentile(absl::MakeSpan(v), 0.75), 3);
  EXPECT_EQ(Percentile(absl::MakeSpan(v), 0.76), 4);
  EXPECT_EQ(Percentile(absl::MakeSpan(v), 1), 4);
  EXPECT_EQ(Percentile(absl::MakeSpan(v), 0), 1);
  std::vector<double> hundred;
  for (int i = 100; i >= 1; --i) hundred.push_back(i);
  EXPECT_EQ(Percentile(absl::MakeSpan(hundred), 0.99), 99);
  EXPECT_EQ(Percentile(absl::MakeSpan(hundred), 0.999), 100);
  EXPECT_EQ(Percentile(absl::MakeSpan(hundred), 0.5), 50);
}

// No samples read as 0; one sample is every percentile.
TEST(PercentileTest, EmptyAndSingle) {
  std::vector<double> none;
  EXPECT_EQ(Percentile(absl::MakeSpan(none), 0.5), 0);
  std::vector<double> one = {7};
  EXPECT_EQ(Percentile(absl::MakeSpan(one), 0.01), 7);
  EXPECT_EQ(Percentile(absl::MakeSpan(one), 0.99), 7);
}

}  // namespace
}  // namespace slicekeeper
