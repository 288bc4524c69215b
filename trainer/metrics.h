// Quality metrics of a generator against its dataset, the reference's
// metrics (config/metric_name.h has the names) computed as its metric code
// does: every real image once and never a flip (the `_full` metrics set
// xflip=False whatever --mirror says), the first max_reals for KID and PR;
// fakes from G_ema quantised as img * 127.5 + 128, truncated to uint8;
// float64 sums, the covariance divided by N; KID over NumPy-drawn subsets;
// precision and recall in float16. The detectors are NVIDIA's TorchScript
// Inception and VGG16 (trainer/torchscript_detector.h), pytorch-fid's
// Inception for *_pytorchfid names, or the frozen feature network for FD.
//
// Fakes are G_ema's images on fixed evaluation latents (the same for every
// snapshot and every run, so curves are comparable; the reference draws new
// ones each time), split across ranks by global index; each rank
// accumulates float64 sums that are combined exactly, in rank order. The
// dataset side comes from the content-keyed StatisticsCache or one pass
// split the same way. Not thread-safe, except that ExtractFakes may run on
// another thread than the other calls (it issues no collectives), on a
// generator the caller does not train.
#ifndef PGAN_TRAINER_METRICS_H_
#define PGAN_TRAINER_METRICS_H_

#include <torch/types.h>

#include <cstdint>
#include <functional>
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
using config::MetricDetector;
using config::MetricKind;
using config::MetricSpec;

// One value of a metric: pr50k3_full has two (precision and recall).
struct MetricResult {
  std::string metric;  // The result key: "fid50k_full", "pr50k3_full_recall".
  std::string spec;    // The metric's name, its file: "pr50k3_full".
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
  // Per extractor name: this rank's features in global index order, for
  // KID and PR.
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
  using Extractors =
      std::map<MetricDetector, std::unique_ptr<FeatureExtractor>>;

  // `extractors` holds each spec's detector. Of `dataset`, only its first
  // num_images() (unflipped) items are read.
  static absl::StatusOr<std::unique_ptr<MetricsEvaluator>> Create(
      std::vector<MetricSpec> specs, Extractors extractors,
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
  // Or from a set of images, the first num_fakes() in order (pgan fid on two
  // folders). INVALID_ARGUMENT when it holds fewer.
  absl::StatusOr<FakePartials> ExtractFakes(const ImageDataset& fakes) const;
  // The most fakes a metric uses.
  int64_t num_fakes() const;

  // Combines every rank's partials and computes the metrics; every rank
  // gets the same results. Collective.
  absl::StatusOr<std::vector<MetricResult>> Reduce(const FakePartials& mine);

 private:
  MetricsEvaluator() = default;
  FeatureExtractor* Extractor(const MetricSpec& spec) const;
  // This rank's share of the fakes, `images_at(first, count)` giving them.
  absl::StatusOr<FakePartials> ExtractFrom(
      const std::function<absl::StatusOr<torch::Tensor>(int64_t, int64_t)>&
          images_at) const;
  // Global index range of this rank's share of `count` items.
  std::pair<int64_t, int64_t> Share(int64_t count) const;
  // Reads the first `items` reals.
  absl::Status ComputeReals(FeatureExtractor& extractor, int64_t items,
                            bool keep_features);
  // Sums `t` (float64) over ranks in rank order; identical on every rank.
  absl::StatusOr<torch::Tensor> SumOverRanks(const torch::Tensor& t);
  // Concatenates the ranks' row blocks (rank r holds Share(total) of rows).
  absl::StatusOr<torch::Tensor> GatherRows(const torch::Tensor& mine,
                                           int64_t total);

  std::vector<MetricSpec> specs_;
  Extractors extractors_;
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

// The detectors' files (empty: not at hand), as the options give them.
struct DetectorFiles {
  std::string inception;   // NVIDIA's TorchScript inception-2015-12-05.pt.
  std::string pytorchfid;  // pytorch-fid's Inception-v3 weights.
  std::string vgg16;       // NVIDIA's TorchScript vgg16.pt.

  config::AvailableDetectors available() const {
    return {!inception.empty(), !pytorchfid.empty(), !vgg16.empty()};
  }
};

// Loads the detector of every spec once, on `device`; `trunk` (the frozen
// feature network, `timm_name`) is copied for FD specs and may be null when
// there are none. Errors name the file.
absl::StatusOr<MetricsEvaluator::Extractors> LoadDetectors(
    const std::vector<MetricSpec>& specs, const DetectorFiles& files,
    const torch::nn::Module* trunk, const std::string& timm_name,
    c10::Device device);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_METRICS_H_
