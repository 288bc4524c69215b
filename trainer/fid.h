// Distances between two sets of image features, as the reference's metric
// code (StyleGAN2-ADA's, in projected_gan/metrics) computes them: the
// Frechet distance between Gaussians fitted to each set (FID when the
// features are Inception's pool3; any other extractor's is "FD" and must be
// named for it), the kernel inception distance (KID, the unbiased MMD with
// the cubic polynomial kernel over the reference's random subsets), and
// precision and recall (the k-NN manifold estimate of Kynkaanniemi et al.).
// Statistics are accumulated in float64 whatever the features' dtype, and
// the covariance divides by N as the reference's FeatureStats does.
// Functions and value types.
#ifndef PGAN_TRAINER_FID_H_
#define PGAN_TRAINER_FID_H_

#include <torch/types.h>

#include <cstdint>

#include "absl/status/statusor.h"

namespace pgan::trainer {

// The mean [D] and covariance [D, D] (float64, divided by N as FeatureStats
// does: sum(f f^T) / N - mean mean^T) of N feature vectors.
struct FeatureStatistics {
  torch::Tensor mean;
  torch::Tensor covariance;
  int64_t count = 0;
};

// `features`: [N, D], N >= 2. INVALID_ARGUMENT otherwise.
absl::StatusOr<FeatureStatistics> ComputeStatistics(
    const torch::Tensor& features);
// From float64 sums over N vectors: `sum` [D] and `outer` = sum f f^T [D, D].
FeatureStatistics StatisticsFromSums(const torch::Tensor& sum,
                                     const torch::Tensor& outer, int64_t n);

// ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)). The trace of the square
// root is taken as the sum of the square roots of the eigenvalues of the
// symmetric S1^(1/2) S2 S1^(1/2) (which has the same eigenvalues as S1 S2),
// with rounding noise below zero clamped: no complex parts to discard, and
// stable for singular covariances (fewer samples than dimensions). The
// reference takes the trace of scipy.linalg.sqrtm(S_fake S_real); the two
// agree to 1e-14 relative for full-rank covariances (2048 features of 6,000
// vectors) and to about 1e-8 absolute for rank-deficient ones, where
// sqrtm's own error is of that size.
absl::StatusOr<double> FrechetDistance(const FeatureStatistics& a,
                                       const FeatureStatistics& b);

struct KidOptions {
  int num_subsets = 100;
  int max_subset_size = 1000;
  // Seeds NumPy's legacy RandomState, from which the subsets are drawn as
  // the reference draws them from np.random: per subset,
  // choice(M, m, replace=False) of the fakes, then of the reals.
  uint32_t seed = 0;
};

// KID between `real` [N, D] and `fake` [M, D] features. The reference's
// arithmetic is float32 (its feature arrays); this is float64, which moves
// the value by about 2e-7 relative.
absl::StatusOr<double> KernelInceptionDistance(const torch::Tensor& real,
                                               const torch::Tensor& fake,
                                               const KidOptions& options = {});

struct PrecisionRecall {
  double precision = 0;
  double recall = 0;
};

// Precision (the share of fakes inside the reals' manifold) and recall (of
// reals inside the fakes'), each manifold the union of balls reaching every
// point's k-th nearest other point, computed as the reference does: the
// features rounded to float16; distances between them computed in float32,
// rounded to float16 (the reference's float16 torch.cdist on a GPU; a CPU
// has none), compared in float16 with the radii; rows and columns in blocks
// of `block`. The reference's GPU arithmetic can differ in the last float16
// bit, which moves only a probe that lies on a ball's boundary.
absl::StatusOr<PrecisionRecall> ComputePrecisionRecall(
    const torch::Tensor& real, const torch::Tensor& fake, int k = 3,
    int64_t block = 10000);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_FID_H_
