// Distances between two sets of image features, as the standard metrics
// define them: the Frechet distance between Gaussians fitted to each set
// (FID when the features are Inception-v3's pool3; any other extractor's is
// "FD" and must be named for it), and the kernel inception distance (KID,
// the unbiased MMD with the cubic polynomial kernel, averaged over random
// subsets as StyleGAN's metric code does). Statistics are accumulated in
// float64 whatever the features' dtype. Functions and a value type.
#ifndef PGAN_TRAINER_FID_H_
#define PGAN_TRAINER_FID_H_

#include <torch/types.h>

#include <cstdint>

#include "absl/status/statusor.h"

namespace pgan::trainer {

// The mean [D] and covariance [D, D] (float64, unbiased: divided by N - 1)
// of N feature vectors.
struct FeatureStatistics {
  torch::Tensor mean;
  torch::Tensor covariance;
  int64_t count = 0;
};

// `features`: [N, D], N >= 2. INVALID_ARGUMENT otherwise.
absl::StatusOr<FeatureStatistics> ComputeStatistics(
    const torch::Tensor& features);

// ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)). The trace of the square
// root is taken as the sum of the square roots of the eigenvalues of the
// symmetric S1^(1/2) S2 S1^(1/2) (which has the same eigenvalues as S1 S2),
// with rounding noise below zero clamped: no complex parts to discard, and
// stable for singular covariances (fewer samples than dimensions).
absl::StatusOr<double> FrechetDistance(const FeatureStatistics& a,
                                       const FeatureStatistics& b);

struct KidOptions {
  int num_subsets = 100;
  int max_subset_size = 1000;
  uint64_t seed = 0;
};

// KID between `real` [N, D] and `fake` [M, D] features.
absl::StatusOr<double> KernelInceptionDistance(const torch::Tensor& real,
                                               const torch::Tensor& fake,
                                               const KidOptions& options = {});

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_FID_H_
