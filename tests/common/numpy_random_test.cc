#include "common/numpy_random.h"

#include <gtest/gtest.h>

namespace pgan {
namespace {

// np.random.RandomState(0).randn(4) and RandomState(42).random_sample(2),
// as printed by NumPy.
TEST(NumpyRandomStateTest, RandnMatchesNumpyLegacySeeding) {
  NumpyRandomState rs(0);
  EXPECT_NEAR(rs.StandardNormal(), 1.764052345967664, 1e-15);
  EXPECT_NEAR(rs.StandardNormal(), 0.4001572083672233, 1e-15);
  EXPECT_NEAR(rs.StandardNormal(), 0.9787379841057392, 1e-15);
  EXPECT_NEAR(rs.StandardNormal(), 2.240893199201458, 1e-15);
}

TEST(NumpyRandomStateTest, RandomSampleMatchesNumpy) {
  NumpyRandomState rs(42);
  EXPECT_NEAR(rs.RandomSample(), 0.3745401188473625, 1e-16);
  EXPECT_NEAR(rs.RandomSample(), 0.9507143064099162, 1e-16);
}

TEST(NumpyRandomStateTest, RandnReturnsFloatsOfRequestedCount) {
  NumpyRandomState rs(0);
  std::vector<float> v = rs.Randn(3);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_FLOAT_EQ(v[0], 1.7640524f);
}

}  // namespace
}  // namespace pgan
