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

// a = np.arange(20); np.random.RandomState(7).shuffle(a)
TEST(NumpyRandomStateTest, ShuffleMatchesNumpyLegacyShuffle) {
  std::vector<int64_t> values(20);
  for (int i = 0; i < 20; ++i) values[i] = i;
  NumpyRandomState rs(7);
  rs.Shuffle(&values);
  const std::vector<int64_t> expected = {1,  17, 2,  5, 11, 0, 18, 6, 13, 19,
                                         10, 14, 8, 16, 9,  12, 7, 3, 4,  15};
  EXPECT_EQ(values, expected);
}

// r = np.random.RandomState(7); [r.randint(1000) for _ in range(5)],
// r.randint(2**40), [r.randint(3) for _ in range(5)]
TEST(NumpyRandomStateTest, RandIntMatchesNumpyLegacyRandint) {
  NumpyRandomState rs(7);
  const std::vector<int64_t> expected = {175, 196, 537, 502, 579};
  for (int64_t want : expected) EXPECT_EQ(rs.RandInt(1000), want);
  EXPECT_EQ(rs.RandInt(int64_t{1} << 40), 909345358743);
  const std::vector<int64_t> small = {0, 1, 2, 0, 1};
  for (int64_t want : small) EXPECT_EQ(rs.RandInt(3), want);
}

// randint(1) is always 0 and, as in NumPy, consumes no random bits.
TEST(NumpyRandomStateTest, RandIntOfOneDrawsNothing) {
  NumpyRandomState rs(7);
  EXPECT_EQ(rs.RandInt(1), 0);
  EXPECT_EQ(rs.RandInt(1), 0);
  EXPECT_EQ(rs.RandInt(1000), 175);
}

}  // namespace
}  // namespace pgan
