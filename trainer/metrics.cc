#include "trainer/metrics.h"

#include <torch/nn/functional/upsampling.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "trainer/efficientnet.h"
#include "trainer/inception.h"
#include "trainer/sample_grid.h"
#include "trainer/sample_random.h"
#include "trainer/state_dict.h"
#include "trainer/stats_cache.h"
#include "trainer/torch_status.h"
#include "trainer/torchscript_detector.h"
#include "trainer/training_step.h"

namespace pgan::trainer {
namespace {

namespace F = torch::nn::functional;
using Clock = std::chrono::steady_clock;

// The evaluation latents do not depend on the run's seed: every run of
// every job is measured on the same latents.
constexpr uint64_t kEvaluationSeed = 0x70676d6574726963;  // "pgmetric"

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// KID and PR work on the features themselves, the others on their sums.
bool NeedsFeatures(const MetricSpec& spec) {
  return spec.kind == MetricKind::kKid || spec.kind == MetricKind::kPr;
}

void Accumulate(const torch::Tensor& features64, FakePartials::Sums* sums) {
  if (features64.size(0) == 0) return;
  if (!sums->sum.defined()) {
    const int64_t d = features64.size(1);
    sums->sum = torch::zeros({d}, features64.options());
    sums->outer = torch::zeros({d, d}, features64.options());
  }
  sums->sum += features64.sum(0);
  sums->outer += features64.t().mm(features64);
  sums->count += features64.size(0);
}

// The frozen trunk's last stage, pooled.
class FeatureNetworkExtractor : public FeatureExtractor {
 public:
  FeatureNetworkExtractor(EfficientNetTrunk trunk, std::string name,
                          std::string digest, int64_t dim)
      : trunk_(std::move(trunk)),
        name_(std::move(name)),
        digest_(std::move(digest)),
        dim_(dim) {}

  std::string name() const override { return name_; }
  int64_t dim() const override { return dim_; }
  std::string weights_digest() const override { return digest_; }

  absl::StatusOr<torch::Tensor> Extract(const torch::Tensor& images) override {
    if (images.dim() != 4 || images.scalar_type() != torch::kUInt8 ||
        (images.size(1) != 1 && images.size(1) != 3)) {
      return absl::InvalidArgumentError(
          "feature extraction expects uint8 images [N, 1 or 3, H, W]");
    }
    return CatchTorchOr<torch::Tensor>(
        "extracting features", [&]() -> absl::StatusOr<torch::Tensor> {
          torch::NoGradGuard no_grad;
          const torch::Device device = trunk_->parameters().front().device();
          torch::Tensor x = images.to(device).to(torch::kFloat32) / 127.5 - 1;
          if (x.size(1) == 1) x = x.repeat({1, 3, 1, 1});
          if (x.size(2) != 224 || x.size(3) != 224) {
            x = F::interpolate(x, F::InterpolateFuncOptions()
                                      .size(std::vector<int64_t>{224, 224})
                                      .mode(torch::kBilinear)
                                      .align_corners(false));
          }
          return trunk_->forward(x)[3].mean({2, 3});
        });
  }

 private:
  EfficientNetTrunk trunk_;
  std::string name_, digest_;
  int64_t dim_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FeatureExtractor>> MakeFeatureNetworkExtractor(
    const torch::nn::Module& trunk, const std::string& timm_name,
    c10::Device device) {
  return CatchTorchOr<std::unique_ptr<FeatureExtractor>>(
      "copying the feature network",
      [&]() -> absl::StatusOr<std::unique_ptr<FeatureExtractor>> {
        EfficientNetTrunk copy(timm_name);
        CopyState(trunk, *copy);
        copy->eval();
        Sha256 sha;
        for (const auto& [key, tensor] : StateDict(*copy)) {
          const torch::Tensor t = tensor.to(torch::kCPU).contiguous();
          sha.Update(
              absl::StrCat(key, ":", t.toString(), ":", t.sizes().size(), ":"));
          sha.Update(t.data_ptr(), t.nbytes());
        }
        copy->to(device);
        const int64_t dim = copy->forward(torch::zeros(
            {1, 3, 64, 64}, torch::TensorOptions().device(device)))[3]
                                .size(1);
        absl::string_view name = timm_name;
        absl::ConsumePrefix(&name, "tf_");
        return std::unique_ptr<FeatureExtractor>(new FeatureNetworkExtractor(
            std::move(copy), std::string(name), sha.HexDigest(), dim));
      });
}

absl::StatusOr<MetricsEvaluator::Extractors> LoadDetectors(
    const std::vector<MetricSpec>& specs, const DetectorFiles& files,
    const torch::nn::Module* trunk, const std::string& timm_name,
    c10::Device device) {
  MetricsEvaluator::Extractors out;
  for (const MetricSpec& spec : specs) {
    if (out.count(spec.detector) != 0) continue;
    std::unique_ptr<FeatureExtractor>& e = out[spec.detector];
    absl::StatusOr<std::unique_ptr<FeatureExtractor>> loaded;
    switch (spec.detector) {
      case MetricDetector::kInception:
        loaded = LoadTorchScriptDetector(files.inception, "nvidia_inception",
                                         device);
        break;
      case MetricDetector::kPytorchFid:
        loaded = LoadInceptionExtractor(files.pytorchfid, device);
        break;
      case MetricDetector::kVgg16:
        loaded = LoadTorchScriptDetector(files.vgg16, "nvidia_vgg16", device);
        break;
      case MetricDetector::kFeatureNetwork:
        if (trunk == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat(spec.name, ": no feature network to embed with"));
        }
        loaded = MakeFeatureNetworkExtractor(*trunk, timm_name, device);
        break;
    }
    if (!loaded.ok()) return loaded.status();
    e = *std::move(loaded);
  }
  return out;
}

absl::StatusOr<std::unique_ptr<MetricsEvaluator>> MetricsEvaluator::Create(
    std::vector<MetricSpec> specs, Extractors extractors,
    std::shared_ptr<const ImageDataset> dataset, ProcessGroup* group,
    MetricsOptions options) {
  std::unique_ptr<MetricsEvaluator> e(new MetricsEvaluator());
  for (const MetricSpec& spec : specs) {
    const auto it = extractors.find(spec.detector);
    if (it == extractors.end() || it->second == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec.name, ": its feature extractor is missing"));
    }
  }
  if (options.batch < 1) {
    return absl::InvalidArgumentError("metrics batch must be positive");
  }
  e->specs_ = std::move(specs);
  e->extractors_ = std::move(extractors);
  e->dataset_ = std::move(dataset);
  e->group_ = group;
  e->options_ = options;
  return e;
}

FeatureExtractor* MetricsEvaluator::Extractor(const MetricSpec& spec) const {
  return extractors_.at(spec.detector).get();
}

std::pair<int64_t, int64_t> MetricsEvaluator::Share(int64_t count) const {
  const int64_t world = group_->world_size(), rank = group_->rank();
  return {count * rank / world, count * (rank + 1) / world};
}

absl::StatusOr<torch::Tensor> MetricsEvaluator::SumOverRanks(
    const torch::Tensor& t) {
  if (group_->world_size() == 1) return t;
  torch::Tensor total;
  for (int r = 0; r < group_->world_size(); ++r) {
    std::vector<torch::Tensor> buf = {
        r == group_->rank() ? t.clone() : torch::zeros_like(t)};
    RETURN_IF_ERROR(group_->Broadcast(buf, r));
    total = r == 0 ? buf[0] : total + buf[0];
  }
  return total;
}

absl::StatusOr<torch::Tensor> MetricsEvaluator::GatherRows(
    const torch::Tensor& mine, int64_t total) {
  if (group_->world_size() == 1) return mine;
  const int64_t world = group_->world_size();
  std::vector<torch::Tensor> blocks;
  for (int r = 0; r < world; ++r) {
    const int64_t rows = total * (r + 1) / world - total * r / world;
    std::vector<torch::Tensor> buf = {
        r == group_->rank()
            ? mine.contiguous()
            : torch::empty({rows, mine.size(1)}, mine.options())};
    RETURN_IF_ERROR(group_->Broadcast(buf, r));
    blocks.push_back(buf[0]);
  }
  return torch::cat(blocks, 0);
}

absl::Status MetricsEvaluator::ComputeReals(FeatureExtractor& extractor,
                                            int64_t items, bool keep_features) {
  const Clock::time_point start = Clock::now();
  const int64_t total = items;
  const auto [begin, end] = Share(total);
  FakePartials::Sums sums;
  std::vector<torch::Tensor> kept;
  const int64_t c = dataset_->channels(), r = dataset_->resolution();
  for (int64_t i = begin; i < end; i += options_.batch) {
    const int64_t n = std::min<int64_t>(options_.batch, end - i);
    torch::Tensor images = torch::empty({n, c, r, r}, torch::kUInt8);
    for (int64_t k = 0; k < n; ++k) {
      RETURN_IF_ERROR(dataset_->GetInto(
          i + k, images.data_ptr<uint8_t>() + k * dataset_->item_bytes()));
    }
    ASSIGN_OR_RETURN(torch::Tensor features, extractor.Extract(images));
    RETURN_IF_ERROR(CatchTorch("accumulating statistics", [&] {
      const torch::Tensor f64 = features.to(torch::kCPU, torch::kFloat64);
      Accumulate(f64, &sums);
      if (keep_features) kept.push_back(features.to(torch::kCPU));
      return absl::OkStatus();
    }));
    dataset_images_read_ += n;
  }
  const int64_t d = extractor.dim();
  if (!sums.sum.defined()) {
    sums.sum = torch::zeros({d}, torch::kFloat64);
    sums.outer = torch::zeros({d, d}, torch::kFloat64);
  }
  ASSIGN_OR_RETURN(torch::Tensor sum, SumOverRanks(sums.sum));
  ASSIGN_OR_RETURN(torch::Tensor outer, SumOverRanks(sums.outer));
  real_stats_[extractor.name()] = StatisticsFromSums(sum, outer, total);
  if (keep_features) {
    const torch::Tensor mine =
        kept.empty() ? torch::empty({0, d}, torch::kFloat32) : torch::cat(kept);
    ASSIGN_OR_RETURN(real_features_[extractor.name()], GatherRows(mine, total));
  }
  if (group_->rank() == 0 && options_.log != nullptr) {
    *options_.log
        << absl::StrFormat(
               "Dataset statistics (%s): %d images (no flips) in %.1f s",
               extractor.name(), total, SecondsSince(start))
        << std::endl;
  }
  return absl::OkStatus();
}

absl::Status MetricsEvaluator::PrepareReals() {
  if (dataset_->num_images() < 2) {
    return absl::FailedPreconditionError(
        absl::StrCat(dataset_->path(), ": metrics need at least 2 images"));
  }
  std::vector<std::string> dirs;
  if (!options_.cache_dir.empty()) {
    dirs.push_back(options_.cache_dir);
  } else {
    dirs.push_back(StatisticsCache::BesideDataset(dataset_->path()));
    // A read-only dataset folder (a mounted volume) caches in the home.
    if (!options_.fallback_cache_dir.empty()) {
      dirs.push_back(options_.fallback_cache_dir);
    }
  }
  std::string dataset_digest;
  if (group_->rank() == 0) {
    ASSIGN_OR_RETURN(dataset_digest, DatasetContentDigest(dataset_->path()));
  }
  reals_cached_ = true;
  std::set<std::string> done;
  const int64_t num_images = dataset_->num_images();
  for (const MetricSpec& spec : specs_) {
    FeatureExtractor* extractor = Extractor(spec);
    if (!done.insert(extractor->name()).second) continue;
    // Distances need statistics of every real; KID and PR the features of
    // the first max_reals.
    bool keep_features = false;
    int64_t items = 0;
    for (const MetricSpec& s : specs_) {
      if (Extractor(s) != extractor) continue;
      const bool features =
          s.kind == MetricKind::kKid || s.kind == MetricKind::kPr;
      keep_features |= features;
      const int64_t wanted = features && s.max_reals > 0
                                 ? std::min(num_images, s.max_reals)
                                 : num_images;
      items = std::max(items, wanted);
    }
    StatisticsKey key;
    key.dataset_digest = dataset_digest;
    key.extractor = extractor->name();
    key.weights_digest = extractor->weights_digest();
    key.resolution = dataset_->resolution();
    key.xflip = false;
    key.max_items = items == num_images ? 0 : items;
    key.with_features = keep_features;
    // Rank 0 looks up (the other ranks may not share its file system) and
    // tells the others whether to help with a dataset pass.
    uint64_t hit = 0;
    if (group_->rank() == 0) {
      for (const std::string& dir : dirs) {
        StatisticsCache cache(dir);
        absl::StatusOr<CachedStatistics> cached = cache.Load(key);
        if (cached.ok()) {
          real_stats_[key.extractor] = cached->stats;
          if (keep_features) real_features_[key.extractor] = cached->features;
          hit = 1;
          if (options_.log != nullptr) {
            *options_.log << "Dataset statistics (" << key.extractor
                          << ") from the cache: " << cache.PathFor(key)
                          << std::endl;
          }
          break;
        }
        if (!absl::IsNotFound(cached.status()) && options_.log != nullptr) {
          *options_.log << "Ignoring a cache entry: "
                        << cached.status().message() << std::endl;
        }
      }
    }
    ASSIGN_OR_RETURN(std::vector<uint64_t> flags, group_->GatherValues(hit));
    if (flags[0] != 0) continue;
    reals_cached_ = false;
    RETURN_IF_ERROR(ComputeReals(*extractor, items, keep_features));
    if (group_->rank() != 0) continue;
    CachedStatistics entry{
        real_stats_[key.extractor],
        keep_features ? real_features_[key.extractor] : torch::Tensor()};
    absl::Status stored = absl::UnknownError("no cache folder");
    for (const std::string& dir : dirs) {
      StatisticsCache cache(dir);
      stored = cache.Store(key, entry);
      if (stored.ok()) {
        if (options_.log != nullptr) {
          *options_.log << "Cached the dataset statistics at "
                        << cache.PathFor(key) << std::endl;
        }
        break;
      }
    }
    if (!stored.ok() && options_.log != nullptr) {
      // Not fatal: the next run computes them again.
      *options_.log << "Could not cache the dataset statistics: "
                    << stored.message() << std::endl;
    }
  }
  return absl::OkStatus();
}

int64_t MetricsEvaluator::num_fakes() const {
  int64_t most = 0;
  for (const MetricSpec& spec : specs_) most = std::max(most, spec.num_fakes);
  return most;
}

absl::StatusOr<FakePartials> MetricsEvaluator::ExtractFakes(
    Generator& g_ema) const {
  const config::ModelConfig& config = g_ema->config();
  return ExtractFrom(
      [&](int64_t i, int64_t n) -> absl::StatusOr<torch::Tensor> {
        torch::Tensor images;
        RETURN_IF_ERROR(CatchTorch("generating evaluation images", [&] {
          torch::NoGradGuard no_grad;
          const torch::Device device = g_ema->parameters().front().device();
          std::vector<uint64_t> z_keys, noise_keys, label_keys;
          for (int64_t k = i; k < i + n; ++k) {
            z_keys.push_back(
                SampleKey(kEvaluationSeed, 0, k, RandomPurpose::kMetricLatent));
            noise_keys.push_back(
                SampleKey(kEvaluationSeed, 0, k, RandomPurpose::kMetricNoise));
            label_keys.push_back(
                SampleKey(kEvaluationSeed, 0, k, RandomPurpose::kMetricLabel));
          }
          const torch::Tensor z = SampleRandom(z_keys).Normal(
              {config.z_dim}, torch::TensorOptions().device(device));
          torch::Tensor c;
          if (config.conditional()) {
            // Labels as the dataset has them, drawn per sample.
            const torch::Tensor index =
                SampleRandom(label_keys)
                    .RandInt(0, dataset_->num_images(), {},
                             torch::TensorOptions().dtype(torch::kInt64));
            std::vector<torch::Tensor> labels;
            for (int64_t k = 0; k < n; ++k) {
              labels.push_back(dataset_->Label(index[k].item<int64_t>()));
            }
            c = torch::stack(labels).to(device);
          }
          SampleRandom noise(noise_keys);
          images = ToUint8Truncated(g_ema->forward(z, c, &noise));
          return absl::OkStatus();
        }));
        return images;
      });
}

absl::StatusOr<FakePartials> MetricsEvaluator::ExtractFakes(
    const ImageDataset& fakes) const {
  if (fakes.num_images() < num_fakes()) {
    return absl::InvalidArgumentError(
        absl::StrCat(fakes.path(), ": ", fakes.num_images(),
                     " images, but the metrics ", "need ", num_fakes(),
                     " (name fewer: fid", fakes.num_images(), "_full)"));
  }
  return ExtractFrom(
      [&](int64_t i, int64_t n) -> absl::StatusOr<torch::Tensor> {
        torch::Tensor images = torch::empty(
            {n, fakes.channels(), fakes.resolution(), fakes.resolution()},
            torch::kUInt8);
        for (int64_t k = 0; k < n; ++k) {
          RETURN_IF_ERROR(fakes.GetInto(
              i + k, images.data_ptr<uint8_t>() + k * fakes.item_bytes()));
        }
        return images;
      });
}

absl::StatusOr<FakePartials> MetricsEvaluator::ExtractFrom(
    const std::function<absl::StatusOr<torch::Tensor>(int64_t, int64_t)>&
        images_at) const {
  const Clock::time_point start = Clock::now();
  // Per extractor: the counts to accumulate, and how many features KID and
  // PR keep.
  std::map<FeatureExtractor*, std::set<int64_t>> counts;
  std::map<FeatureExtractor*, int64_t> kid_rows;
  for (const MetricSpec& spec : specs_) {
    std::set<int64_t>& sums = counts[Extractor(spec)];
    if (!NeedsFeatures(spec)) sums.insert(spec.num_fakes);
    if (NeedsFeatures(spec)) {
      kid_rows[Extractor(spec)] =
          std::max(kid_rows[Extractor(spec)], spec.num_fakes);
    }
  }
  const auto [begin, end] = Share(num_fakes());
  FakePartials out;
  std::map<FeatureExtractor*, std::vector<torch::Tensor>> kept;
  for (int64_t i = begin; i < end; i += options_.batch) {
    const int64_t n = std::min<int64_t>(options_.batch, end - i);
    ASSIGN_OR_RETURN(const torch::Tensor images, images_at(i, n));
    for (auto& [extractor, wanted] : counts) {
      ASSIGN_OR_RETURN(torch::Tensor features, extractor->Extract(images));
      RETURN_IF_ERROR(CatchTorch("accumulating statistics", [&] {
        const torch::Tensor f64 = features.to(torch::kCPU, torch::kFloat64);
        for (int64_t count : wanted) {
          // Images with global index < count belong to that metric.
          const int64_t rows = std::clamp<int64_t>(count - i, 0, n);
          Accumulate(f64.narrow(0, 0, rows),
                     &out.sums[extractor->name()][count]);
        }
        const auto kid = kid_rows.find(extractor);
        if (kid != kid_rows.end()) {
          const int64_t rows = std::clamp<int64_t>(kid->second - i, 0, n);
          kept[extractor].push_back(
              features.narrow(0, 0, rows).to(torch::kCPU));
        }
        return absl::OkStatus();
      }));
    }
  }
  for (auto& [extractor, wanted] : counts) {
    for (int64_t count : wanted) {
      FakePartials::Sums& sums = out.sums[extractor->name()][count];
      if (!sums.sum.defined()) {  // This rank had none of them.
        const int64_t d = extractor->dim();
        sums.sum = torch::zeros({d}, torch::kFloat64);
        sums.outer = torch::zeros({d, d}, torch::kFloat64);
      }
    }
    if (kid_rows.count(extractor) != 0) {
      out.features[extractor->name()] =
          kept[extractor].empty()
              ? torch::empty({0, extractor->dim()}, torch::kFloat32)
              : torch::cat(kept[extractor]);
    }
  }
  out.seconds = SecondsSince(start);
  return out;
}

absl::StatusOr<std::vector<MetricResult>> MetricsEvaluator::Reduce(
    const FakePartials& mine) {
  // Every rank takes part in every collective, in spec order.
  std::map<std::string, std::map<int64_t, FeatureStatistics>> fakes;
  std::map<std::string, torch::Tensor> fake_features;
  for (const MetricSpec& spec : specs_) {
    const std::string name = Extractor(spec)->name();
    if (!NeedsFeatures(spec) && fakes[name].count(spec.num_fakes) == 0) {
      const auto it = mine.sums.find(name);
      if (it == mine.sums.end() || it->second.count(spec.num_fakes) == 0) {
        return absl::InternalError(
            absl::StrCat(spec.name, ": no partial sums"));
      }
      const FakePartials::Sums& sums = it->second.at(spec.num_fakes);
      ASSIGN_OR_RETURN(torch::Tensor sum, SumOverRanks(sums.sum));
      ASSIGN_OR_RETURN(torch::Tensor outer, SumOverRanks(sums.outer));
      fakes[name][spec.num_fakes] =
          StatisticsFromSums(sum, outer, spec.num_fakes);
    }
    if (NeedsFeatures(spec) && fake_features.count(name) == 0) {
      int64_t rows = 0;
      for (const MetricSpec& s : specs_) {
        if (NeedsFeatures(s) && Extractor(s)->name() == name) {
          rows = std::max(rows, s.num_fakes);
        }
      }
      ASSIGN_OR_RETURN(fake_features[name],
                       GatherRows(mine.features.at(name), rows));
    }
  }
  // Rank 0 holds the dataset side; it computes and shares the values, one
  // per result key in spec order.
  std::vector<double> values;
  absl::Status status;
  for (const MetricSpec& spec : specs_) {
    const size_t first = values.size();
    values.resize(first + spec.ResultKeys().size(), 0.0);
    if (group_->rank() != 0 || !status.ok()) continue;
    const std::string name = Extractor(spec)->name();
    const auto reals = [&]() {
      const torch::Tensor& all = real_features_.at(name);
      return spec.max_reals > 0 && all.size(0) > spec.max_reals
                 ? all.narrow(0, 0, spec.max_reals)
                 : all;
    };
    const auto fake_rows = [&]() {
      return fake_features.at(name).narrow(0, 0, spec.num_fakes);
    };
    if (spec.kind == MetricKind::kPr) {
      absl::StatusOr<PrecisionRecall> pr = ComputePrecisionRecall(
          reals(), fake_rows(), config::kPrNeighbourhood);
      if (pr.ok()) {
        values[first] = pr->precision;
        values[first + 1] = pr->recall;
      }
      status = pr.status();
      continue;
    }
    absl::StatusOr<double> value =
        spec.kind == MetricKind::kKid
            ? KernelInceptionDistance(reals(), fake_rows())
            : FrechetDistance(real_stats_.at(name),
                              fakes[name][spec.num_fakes]);
    if (value.ok()) values[first] = *value;
    status = value.status();
  }
  values.push_back(status.ok() ? 0.0 : 1.0);
  if (group_->world_size() > 1) {
    std::vector<torch::Tensor> shared = {
        torch::tensor(values, torch::kFloat64)};
    RETURN_IF_ERROR(group_->Broadcast(shared, 0));
    values.assign(shared[0].data_ptr<double>(),
                  shared[0].data_ptr<double>() + shared[0].numel());
  }
  if (!status.ok()) return status;
  if (values.back() != 0.0) {
    return absl::InternalError("rank 0 failed to compute the metrics");
  }
  std::vector<MetricResult> results;
  size_t next = 0;
  for (const MetricSpec& spec : specs_) {
    const std::string name = Extractor(spec)->name();
    int64_t reals = real_stats_.count(name) != 0 ? real_stats_.at(name).count
                                                 : dataset_->num_images();
    if (spec.max_reals > 0) reals = std::min(reals, spec.max_reals);
    for (const std::string& key : spec.ResultKeys()) {
      results.push_back(
          {key, spec.name, values[next++], spec.num_fakes, reals});
    }
  }
  return results;
}

}  // namespace pgan::trainer
