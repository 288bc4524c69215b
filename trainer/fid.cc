#include "trainer/fid.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "trainer/torch_status.h"

namespace pgan::trainer {
namespace {

absl::Status CheckFeatures(const torch::Tensor& features, const char* what) {
  if (!features.defined() || features.dim() != 2 || features.size(0) < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": expected a [N, D] tensor of N >= 2 feature vectors"));
  }
  return absl::OkStatus();
}

// The symmetric square root of a symmetric positive semi-definite matrix.
torch::Tensor SymmetricSqrt(const torch::Tensor& m) {
  auto [values, vectors] = torch::linalg_eigh(m);
  return torch::matmul(vectors * values.clamp_min(0).sqrt().unsqueeze(0),
                       vectors.transpose(0, 1));
}

}  // namespace

absl::StatusOr<FeatureStatistics> ComputeStatistics(
    const torch::Tensor& features) {
  if (absl::Status ok = CheckFeatures(features, "features"); !ok.ok()) {
    return ok;
  }
  return CatchTorchOr<FeatureStatistics>(
      "feature statistics", [&]() -> absl::StatusOr<FeatureStatistics> {
        const torch::Tensor x = features.to(torch::kCPU, torch::kFloat64);
        FeatureStatistics stats;
        stats.count = x.size(0);
        stats.mean = x.mean(0);
        const torch::Tensor centred = x - stats.mean;
        stats.covariance =
            torch::matmul(centred.transpose(0, 1), centred) / (stats.count - 1);
        return stats;
      });
}

absl::StatusOr<double> FrechetDistance(const FeatureStatistics& a,
                                       const FeatureStatistics& b) {
  if (!a.mean.defined() || !b.mean.defined() ||
      a.mean.size(0) != b.mean.size(0)) {
    return absl::InvalidArgumentError(
        "FrechetDistance: statistics of features of different sizes");
  }
  return CatchTorchOr<double>(
      "Frechet distance", [&]() -> absl::StatusOr<double> {
        const torch::Tensor mean_term = (a.mean - b.mean).pow(2).sum();
        const torch::Tensor root_a = SymmetricSqrt(a.covariance);
        torch::Tensor m =
            torch::matmul(torch::matmul(root_a, b.covariance), root_a);
        m = (m + m.transpose(0, 1)) / 2;  // Symmetric up to rounding.
        const torch::Tensor trace_root =
            torch::linalg_eigvalsh(m).clamp_min(0).sqrt().sum();
        const torch::Tensor d = mean_term + a.covariance.trace() +
                                b.covariance.trace() - 2 * trace_root;
        return d.item<double>();
      });
}

absl::StatusOr<double> KernelInceptionDistance(const torch::Tensor& real,
                                               const torch::Tensor& fake,
                                               const KidOptions& options) {
  if (absl::Status ok = CheckFeatures(real, "real features"); !ok.ok())
    return ok;
  if (absl::Status ok = CheckFeatures(fake, "fake features"); !ok.ok())
    return ok;
  if (real.size(1) != fake.size(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("KID: real features have ", real.size(1),
                     " dimensions, fake ", fake.size(1)));
  }
  if (options.num_subsets < 1 || options.max_subset_size < 2) {
    return absl::InvalidArgumentError(
        "KidOptions: num_subsets >= 1 and max_subset_size >= 2");
  }
  return CatchTorchOr<double>("KID", [&]() -> absl::StatusOr<double> {
    const torch::Tensor x_all = fake.to(torch::kCPU, torch::kFloat64);
    const torch::Tensor y_all = real.to(torch::kCPU, torch::kFloat64);
    const double n = static_cast<double>(x_all.size(1));
    const int64_t m = std::min<int64_t>(std::min(x_all.size(0), y_all.size(0)),
                                        options.max_subset_size);
    torch::Generator generator = at::detail::createCPUGenerator(options.seed);
    double t = 0;
    for (int s = 0; s < options.num_subsets; ++s) {
      const torch::Tensor x = x_all.index_select(
          0, torch::randperm(x_all.size(0), generator, torch::kLong)
                 .narrow(0, 0, m));
      const torch::Tensor y = y_all.index_select(
          0, torch::randperm(y_all.size(0), generator, torch::kLong)
                 .narrow(0, 0, m));
      const torch::Tensor a =
          (torch::matmul(x, x.transpose(0, 1)) / n + 1).pow(3) +
          (torch::matmul(y, y.transpose(0, 1)) / n + 1).pow(3);
      const torch::Tensor b =
          (torch::matmul(x, y.transpose(0, 1)) / n + 1).pow(3);
      t += ((a.sum() - a.diagonal().sum()) / (m - 1) - b.sum() * 2 / m)
               .item<double>();
    }
    return t / options.num_subsets / m;
  });
}

}  // namespace pgan::trainer
