#include "common/cubic_spline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace pgan {
namespace {

// Expected values from scipy 1.10.1 (Debian 12's python3-scipy):
//   K, wraps = 3, 2
//   ws = np.array([[0.5, -1.25], [2.0, 0.75], [-1.5, 0.25]], np.float32)
//   f = scipy.interpolate.interp1d(np.arange(-K * wraps, K * (wraps + 1)),
//                                  np.tile(ws, [wraps * 2 + 1, 1]),
//                                  kind='cubic', axis=0)
// as gen_video.py builds each cell's path.
TEST(CubicSplineTest, MatchesScipysInterp1dCubicOnAVideoPath) {
  const int keyframes = 3, wraps = 2;
  const double ws[3][2] = {{0.5, -1.25}, {2.0, 0.75}, {-1.5, 0.25}};
  std::vector<double> x, y;
  for (int j = 0; j < keyframes * (2 * wraps + 1); ++j) {
    x.push_back(j - keyframes * wraps);
    y.push_back(ws[j % keyframes][0]);
    y.push_back(ws[j % keyframes][1]);
  }
  auto spline = CubicSpline::Fit(x, y, 2);
  ASSERT_TRUE(spline.ok()) << spline.status();
  const struct {
    double t, v0, v1;
  } expected[] = {
      {0.0, 0.4999999999999999, -1.25},
      {0.25, 1.320572723908216, -0.9373698880458917},
      {0.5, 1.9377313101406362, -0.37488434492968165},
      {1.0, 2.0, 0.75},
      {1.75, -0.8356772760917839, 0.6798176119541081},
      {2.5, -1.126156550703183, -0.8130782753515912},
      {2.9, 0.1463837897853439, -1.2668081051073279},
  };
  for (const auto& e : expected) {
    const std::vector<double> v = (*spline)(e.t);
    EXPECT_NEAR(v[0], e.v0, 1e-13) << "t " << e.t;
    EXPECT_NEAR(v[1], e.v1, 1e-13) << "t " << e.t;
    // What pgan video feeds G: float32, as the reference's .float().
    EXPECT_EQ(static_cast<float>(v[0]), static_cast<float>(e.v0)) << e.t;
    EXPECT_EQ(static_cast<float>(v[1]), static_cast<float>(e.v1)) << e.t;
  }
}

// scipy: interp1d([0, .5, 1.7, 2, 3.5, 4.1], [1, -2, .5, 3, -1, 2], 'cubic').
TEST(CubicSplineTest, MatchesScipyOnUnevenKnots) {
  auto spline = CubicSpline::Fit({0.0, 0.5, 1.7, 2.0, 3.5, 4.1},
                                 {1.0, -2.0, 0.5, 3.0, -1.0, 2.0}, 1);
  ASSERT_TRUE(spline.ok()) << spline.status();
  EXPECT_NEAR((*spline)(0.1)[0], 0.2313480130467734, 1e-12);
  EXPECT_NEAR((*spline)(1.0)[0], -2.740368269878952, 1e-12);
  EXPECT_NEAR((*spline)(1.9)[0], 2.2589260557237343, 1e-12);
  EXPECT_NEAR((*spline)(2.7)[0], 2.690722862139374, 1e-12);
  EXPECT_NEAR((*spline)(4.0)[0], 0.8580427188314325, 1e-12);
}

// Not-a-knot makes the spline through samples of a cubic that cubic itself
// (natural or clamped ends would not), from 4 knots on.
TEST(CubicSplineTest, ReproducesACubicExactly) {
  const auto cubic = [](double t) {
    return 0.5 * t * t * t - 2 * t * t + t - 3;
  };
  for (int n : {4, 5, 9}) {
    std::vector<double> x, y;
    for (int i = 0; i < n; ++i) {
      x.push_back(i * 0.75 + (i % 2) * 0.1);
      y.push_back(cubic(x.back()));
    }
    auto spline = CubicSpline::Fit(x, y, 1);
    ASSERT_TRUE(spline.ok()) << spline.status();
    for (double t = x.front(); t <= x.back(); t += 0.05) {
      EXPECT_NEAR((*spline)(t)[0], cubic(t), 1e-11) << "n " << n << " t " << t;
    }
  }
}

TEST(CubicSplineTest, RefusesWhatItCannotFit) {
  EXPECT_FALSE(CubicSpline::Fit({0, 1, 2}, {0, 1, 2}, 1).ok());
  EXPECT_FALSE(CubicSpline::Fit({0, 1, 1, 2}, {0, 1, 2, 3}, 1).ok());
  EXPECT_FALSE(CubicSpline::Fit({0, 1, 2, 3}, {0, 1, 2}, 1).ok());
  EXPECT_FALSE(CubicSpline::Fit({0, 1, 2, 3}, {0, 1, 2, 3}, 0).ok());
}

}  // namespace
}  // namespace pgan
