// The Frechet distance and KID against what they must be: zero for a set
// against itself, the closed form for Gaussians whose covariances commute,
// symmetry, sampled Gaussians converging to the exact distance, singular
// covariances, and KID's sign.
#include "trainer/fid.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace pgan::trainer {
namespace {

torch::Tensor RandomOrthogonal(int64_t d, uint64_t seed) {
  torch::manual_seed(seed);
  return std::get<0>(torch::linalg_qr(torch::randn({d, d}, torch::kFloat64)));
}

FeatureStatistics Gaussian(const torch::Tensor& mean, const torch::Tensor& q,
                           const torch::Tensor& eigenvalues) {
  FeatureStatistics stats;
  stats.mean = mean;
  stats.covariance =
      torch::matmul(q * eigenvalues.unsqueeze(0), q.transpose(0, 1));
  stats.count = 1000;
  return stats;
}

TEST(FidTest, ASetAgainstItselfIsZero) {
  torch::manual_seed(1);
  const torch::Tensor features = torch::randn({500, 64}) * 3 + 1;
  auto stats = ComputeStatistics(features);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->count, 500);
  EXPECT_EQ(stats->covariance.scalar_type(), torch::kFloat64);
  auto d = FrechetDistance(*stats, *stats);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_NEAR(*d, 0, 1e-8 * stats->covariance.trace().item<double>());
}

TEST(FidTest, CommutingCovariancesMatchTheClosedForm) {
  const int64_t d = 16;
  const torch::Tensor q = RandomOrthogonal(d, 2);
  const torch::Tensor l1 = torch::rand({d}, torch::kFloat64) * 4 + 0.1;
  const torch::Tensor l2 = torch::rand({d}, torch::kFloat64) * 4 + 0.1;
  const torch::Tensor mu1 = torch::randn({d}, torch::kFloat64);
  const torch::Tensor mu2 = torch::randn({d}, torch::kFloat64);
  // Same eigenvectors: (S1 S2)^(1/2) = Q diag(sqrt(l1 l2)) Q^T.
  const double exact =
      ((mu1 - mu2).pow(2).sum() + (l1.sqrt() - l2.sqrt()).pow(2).sum())
          .item<double>();
  auto a = Gaussian(mu1, q, l1), b = Gaussian(mu2, q, l2);
  auto ab = FrechetDistance(a, b), ba = FrechetDistance(b, a);
  ASSERT_TRUE(ab.ok() && ba.ok());
  EXPECT_NEAR(*ab, exact, 1e-9 * exact);
  EXPECT_NEAR(*ba, exact, 1e-9 * exact);
}

TEST(FidTest, IsSymmetricForCovariancesThatDoNotCommute) {
  const int64_t d = 12;
  auto a = Gaussian(torch::zeros({d}, torch::kFloat64), RandomOrthogonal(d, 3),
                    torch::rand({d}, torch::kFloat64) + 0.5);
  auto b = Gaussian(torch::ones({d}, torch::kFloat64), RandomOrthogonal(d, 4),
                    torch::rand({d}, torch::kFloat64) * 3 + 0.1);
  auto ab = FrechetDistance(a, b), ba = FrechetDistance(b, a);
  ASSERT_TRUE(ab.ok() && ba.ok());
  EXPECT_GT(*ab, 0);
  EXPECT_NEAR(*ab, *ba, 1e-9 * *ab);
}

TEST(FidTest, SampledGaussiansConvergeToTheExactDistance) {
  const int64_t d = 4;
  const torch::Tensor q = RandomOrthogonal(d, 5);
  const torch::Tensor l1 = torch::tensor({1.0, 2.0, 0.5, 3.0}, torch::kFloat64);
  const torch::Tensor l2 = torch::tensor({2.0, 0.5, 0.5, 1.0}, torch::kFloat64);
  const torch::Tensor mu2 =
      torch::tensor({1.0, 0.0, -1.0, 0.5}, torch::kFloat64);
  const double exact =
      (mu2.pow(2).sum() + (l1.sqrt() - l2.sqrt()).pow(2).sum()).item<double>();
  torch::manual_seed(6);
  const int64_t n = 200000;
  const torch::Tensor x = torch::matmul(
      torch::randn({n, d}, torch::kFloat64) * l1.sqrt(), q.transpose(0, 1));
  const torch::Tensor y =
      torch::matmul(torch::randn({n, d}, torch::kFloat64) * l2.sqrt(),
                    q.transpose(0, 1)) +
      mu2;
  auto a = ComputeStatistics(x.to(torch::kFloat32)), b = ComputeStatistics(y);
  ASSERT_TRUE(a.ok() && b.ok());
  auto sampled = FrechetDistance(*a, *b);
  ASSERT_TRUE(sampled.ok());
  EXPECT_NEAR(*sampled, exact, 0.01 * exact) << "exact " << exact;
}

TEST(FidTest, FewerSamplesThanDimensionsStayFiniteAndNonNegative) {
  torch::manual_seed(7);
  auto a = ComputeStatistics(torch::randn({10, 64}));
  auto b = ComputeStatistics(torch::randn({10, 64}) + 0.5);
  ASSERT_TRUE(a.ok() && b.ok());
  auto d = FrechetDistance(*a, *b);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(std::isfinite(*d));
  EXPECT_GT(*d, 0);
}

TEST(FidTest, RejectsTooFewSamplesAndMismatchedSizes) {
  EXPECT_FALSE(ComputeStatistics(torch::randn({1, 8})).ok());
  EXPECT_FALSE(ComputeStatistics(torch::randn({8})).ok());
  auto a = ComputeStatistics(torch::randn({5, 8}));
  auto b = ComputeStatistics(torch::randn({5, 9}));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(FrechetDistance(*a, *b).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KernelInceptionDistance(torch::randn({5, 8}), torch::randn({5, 9}))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KidTest, NearZeroForOneDistributionAndPositiveForAShiftedOne) {
  torch::manual_seed(8);
  const torch::Tensor real = torch::randn({2000, 32});
  const torch::Tensor same = torch::randn({2000, 32});
  const torch::Tensor shifted = torch::randn({2000, 32}) + 0.5;
  KidOptions options;
  options.num_subsets = 20;
  options.max_subset_size = 500;
  auto kid_same = KernelInceptionDistance(real, same, options);
  auto kid_shifted = KernelInceptionDistance(real, shifted, options);
  ASSERT_TRUE(kid_same.ok() && kid_shifted.ok());
  EXPECT_LT(std::abs(*kid_same), 0.01);
  EXPECT_GT(*kid_shifted, 20 * std::abs(*kid_same));
  EXPECT_GT(*kid_shifted, 0.01);
  // The subsets follow the seed.
  auto again = KernelInceptionDistance(real, shifted, options);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *kid_shifted);
}

}  // namespace
}  // namespace pgan::trainer
