#include "trainer/fid.h"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/numpy_random.h"
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

// Two feature sets of one width, for `metric`.
absl::Status CheckPair(const torch::Tensor& real, const torch::Tensor& fake,
                       const char* metric) {
  if (absl::Status ok = CheckFeatures(real, "real features"); !ok.ok())
    return ok;
  if (absl::Status ok = CheckFeatures(fake, "fake features"); !ok.ok())
    return ok;
  if (real.size(1) != fake.size(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat(metric, ": real features have ", real.size(1),
                     " dimensions, fake ", fake.size(1)));
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

FeatureStatistics StatisticsFromSums(const torch::Tensor& sum,
                                     const torch::Tensor& outer, int64_t n) {
  // FeatureStats.get_mean_cov's order of operations.
  FeatureStatistics stats;
  stats.count = n;
  stats.mean = sum / static_cast<double>(n);
  stats.covariance =
      outer / static_cast<double>(n) - torch::outer(stats.mean, stats.mean);
  return stats;
}

absl::StatusOr<FeatureStatistics> ComputeStatistics(
    const torch::Tensor& features) {
  if (absl::Status ok = CheckFeatures(features, "features"); !ok.ok()) {
    return ok;
  }
  return CatchTorchOr<FeatureStatistics>(
      "feature statistics", [&]() -> absl::StatusOr<FeatureStatistics> {
        const torch::Tensor x = features.to(torch::kCPU, torch::kFloat64);
        return StatisticsFromSums(x.sum(0), torch::matmul(x.t(), x), x.size(0));
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
  if (absl::Status ok = CheckPair(real, fake, "KID"); !ok.ok()) {
    return ok;
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
    NumpyRandomState random(options.seed);
    // np.random.choice(n, m, replace=False): permutation(n)[:m].
    const auto choice = [&](int64_t n) {
      std::vector<int64_t> order(n);
      for (int64_t i = 0; i < n; ++i) order[i] = i;
      random.Shuffle(&order);
      order.resize(m);
      return torch::tensor(order, torch::kLong);
    };
    double t = 0;
    for (int s = 0; s < options.num_subsets; ++s) {
      const torch::Tensor x = x_all.index_select(0, choice(x_all.size(0)));
      const torch::Tensor y = y_all.index_select(0, choice(y_all.size(0)));
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

namespace {

// Float16 distances from `rows` to every column, in the reference's column
// blocks (compute_distances with one GPU: the columns padded with zeros to
// a multiple of the block count, then chunked), as float32 holding float16
// values. Calls `take` with each block's distances and its first column.
template <typename Take>
void ForDistanceBlocks(const torch::Tensor& rows, const torch::Tensor& cols,
                       int64_t block, Take take) {
  const int64_t num_cols = cols.size(0);
  const int64_t num_blocks = (num_cols - 1) / block + 1;
  const int64_t pad = (num_blocks - num_cols % num_blocks) % num_blocks;
  const torch::Tensor padded =
      pad == 0 ? cols
               : torch::cat(
                     {cols, torch::zeros({pad, cols.size(1)}, cols.options())});
  int64_t first = 0;
  for (const torch::Tensor& chunk : padded.chunk(num_blocks)) {
    const int64_t width = std::min(chunk.size(0), num_cols - first);
    if (width <= 0) break;
    const torch::Tensor d =
        torch::cdist(rows.unsqueeze(0), chunk.unsqueeze(0))[0]
            .narrow(1, 0, width)
            .to(torch::kHalf)
            .to(torch::kFloat32);
    take(d, first);
    first += width;
  }
}

}  // namespace

absl::StatusOr<PrecisionRecall> ComputePrecisionRecall(
    const torch::Tensor& real, const torch::Tensor& fake, int k,
    int64_t block) {
  if (absl::Status ok = CheckPair(real, fake, "precision/recall"); !ok.ok()) {
    return ok;
  }
  if (k < 1 || block < 1 || real.size(0) <= k || fake.size(0) <= k) {
    return absl::InvalidArgumentError(
        absl::StrCat("precision/recall: k = ", k,
                     " needs more than k real and fake "
                     "features (",
                     real.size(0), " and ", fake.size(0), ")"));
  }
  return CatchTorchOr<PrecisionRecall>(
      "precision/recall", [&]() -> absl::StatusOr<PrecisionRecall> {
        // Float16 values, computed with in float32.
        const auto half = [](const torch::Tensor& t) {
          return t.to(torch::kCPU, torch::kFloat32)
              .to(torch::kHalf)
              .to(torch::kFloat32);
        };
        const torch::Tensor r = half(real), f = half(fake);
        const auto share_inside = [&](const torch::Tensor& manifold,
                                      const torch::Tensor& probes) {
          // Each manifold point's radius: its (k+1)-th smallest distance to
          // the manifold (the first is itself), kept as the k+1 smallest.
          std::vector<torch::Tensor> radii;
          for (const torch::Tensor& rows : manifold.split(block)) {
            torch::Tensor nearest;
            ForDistanceBlocks(
                rows, manifold, block, [&](const torch::Tensor& d, int64_t) {
                  const int64_t take = std::min<int64_t>(k + 1, d.size(1));
                  torch::Tensor small =
                      std::get<0>(d.topk(take, 1, /*largest=*/false));
                  nearest = nearest.defined() ? torch::cat({nearest, small}, 1)
                                              : small;
                  nearest = std::get<0>(
                      nearest.topk(std::min<int64_t>(k + 1, nearest.size(1)), 1,
                                   /*largest=*/false));
                });
            radii.push_back(std::get<0>(nearest.kthvalue(k + 1, 1)));
          }
          const torch::Tensor radius = torch::cat(radii);
          std::vector<torch::Tensor> inside;
          for (const torch::Tensor& rows : probes.split(block)) {
            torch::Tensor any = torch::zeros({rows.size(0)}, torch::kBool);
            ForDistanceBlocks(
                rows, manifold, block, [&](const torch::Tensor& d, int64_t c) {
                  any |=
                      (d <= radius.narrow(0, c, d.size(1)).unsqueeze(0)).any(1);
                });
            inside.push_back(any);
          }
          // The reference's float32 mean.
          return static_cast<double>(
              torch::cat(inside).to(torch::kFloat32).mean().item<float>());
        };
        PrecisionRecall pr;
        pr.precision = share_inside(r, f);
        pr.recall = share_inside(f, r);
        return pr;
      });
}

}  // namespace pgan::trainer
