// Quality metrics of a generator against its dataset, with the reference's
// metric names: "fid50k_full" is the FID of 50,000 generated images against
// the full dataset (flips included with --mirror), "kid50k_full" the KID,
// and "fd2k_full" the Frechet distance on the frozen feature network's
// pooled features, reported as "fd2k_full_efficientnet_lite0". Counts below
// 1000 are written without "k" ("fd64_full"). Without Inception weights an
// FID request is computed and reported as that FD: never called FID.
//
// Fakes are G_ema's images on fixed evaluation latents (the same for every
// snapshot and every run, so curves are comparable), split across ranks by
// global index; each rank accumulates float64 sums that are combined
// exactly, in rank order. The dataset side comes from the content-keyed
// StatisticsCache or one pass split the same way. Not thread-safe, except
// that ExtractFakes may run on another thread than the other calls (it
// issues no collectives), on a generator the caller does not train.
#ifndef PGAN_TRAINER_METRICS_H_
#define PGAN_TRAINER_METRICS_H_

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/metric_name.h"
#include "trainer/dataset.h"
#include "trainer/feature_extractor.h"
#include "trainer/fid.h"
#include "trainer/generator.h"
#include "trainer/process_group.h"

namespace pgan::trainer {

// The metric names and their grammar are the configuration's (torch-free,
// so the coordinator checks them at submission).
using config::MetricKind;
using config::MetricSpec;

struct MetricResult {
  std::string metric;
  double value = 0;
  int64_t num_fakes = 0;
  int64_t num_reals = 0;
};

// One rank's share of the fakes' features.
struct FakePartials {
  struct Sums {
    torch::Tensor sum;    // float64 [D].
    torch::Tensor outer;  // float64 [D, D]: sum of f f^T.
    int64_t count = 0;
  };
  // Per extractor name, per fake count.
  std::map<std::string, std::map<int64_t, Sums>> sums;
  // Per extractor name: this rank's features in global index order, for KID.
  std::map<std::string, torch::Tensor> features;
  double seconds = 0;
};

struct MetricsOptions {
  // Images per generator/extractor forward on each process.
  int batch = 32;
  // The statistics cache folder; empty = StatisticsCache::BesideDataset,
  // then `fallback_cache_dir` (where that is read-only; empty: none).
  std::string cache_dir;
  std::string fallback_cache_dir;
  // Rank 0's progress lines; may be null.
  std::ostream* log = nullptr;
};

class MetricsEvaluator {
 public:
  // `inception` may be null when no spec needs it; `feature_network` when
  // none is an FD. `dataset` is read with the training options (flips).
  static absl::StatusOr<std::unique_ptr<MetricsEvaluator>> Create(
      std::vector<MetricSpec> specs,
      std::unique_ptr<FeatureExtractor> inception,
      std::unique_ptr<FeatureExtractor> feature_network,
      std::shared_ptr<const ImageDataset> dataset, ProcessGroup* group,
      MetricsOptions options);

  const std::vector<MetricSpec>& specs() const { return specs_; }

  // The dataset statistics of every extractor, from the cache (rank 0
  // decides) or one pass over the dataset split across ranks, stored for
  // the next run. Collective; call once before Reduce.
  absl::Status PrepareReals();
  // Whether PrepareReals found every entry in the cache (nothing was read).
  bool reals_cached() const { return reals_cached_; }
  int64_t dataset_images_read() const { return dataset_images_read_; }

  // This rank's fakes from `g_ema` (eval mode, on the extractors' device).
  absl::StatusOr<FakePartials> ExtractFakes(Generator& g_ema) const;

  // Combines every rank's partials and computes the metrics; every rank
  // gets the same results. Collective.
  absl::StatusOr<std::vector<MetricResult>> Reduce(const FakePartials& mine);

 private:
  MetricsEvaluator() = default;
  FeatureExtractor* Extractor(const MetricSpec& spec) const;
  // Global index range of this rank's share of `count` items.
  std::pair<int64_t, int64_t> Share(int64_t count) const;
  absl::Status ComputeReals(FeatureExtractor& extractor, bool keep_features);
  // Sums `t` (float64) over ranks in rank order; identical on every rank.
  absl::StatusOr<torch::Tensor> SumOverRanks(const torch::Tensor& t);
  // Concatenates the ranks' row blocks (rank r holds Share(total) of rows).
  absl::StatusOr<torch::Tensor> GatherRows(const torch::Tensor& mine,
                                           int64_t total);

  std::vector<MetricSpec> specs_;
  std::unique_ptr<FeatureExtractor> inception_, feature_network_;
  std::shared_ptr<const ImageDataset> dataset_;
  ProcessGroup* group_ = nullptr;
  MetricsOptions options_;
  // Per extractor name (rank 0 only after a cache hit).
  std::map<std::string, FeatureStatistics> real_stats_;
  std::map<std::string, torch::Tensor> real_features_;
  bool reals_cached_ = false;
  int64_t dataset_images_read_ = 0;
};

// The frozen feature network's last stage, average-pooled ([N, 320] for
// Lite0), on images resized to 224 as D sees them: a FeatureExtractor on a
// copy of `trunk`'s weights. `timm_name` is "tf_efficientnet_lite0"/"lite1".
absl::StatusOr<std::unique_ptr<FeatureExtractor>> MakeFeatureNetworkExtractor(
    const torch::nn::Module& trunk, const std::string& timm_name,
    c10::Device device);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_METRICS_H_
