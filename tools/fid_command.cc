#include "tools/fid_command.h"

#include <torch/torch.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "trainer/dataset.h"
#include "trainer/device.h"
#include "trainer/efficientnet.h"
#include "trainer/feature_weights.h"
#include "trainer/fid.h"
#include "trainer/inception.h"
#include "trainer/metrics.h"
#include "trainer/network_file.h"
#include "trainer/torch_status.h"

namespace pgan::tools {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::StatusOr<std::shared_ptr<const trainer::ImageDataset>> OpenImages(
    const std::string& path, bool mirror) {
  trainer::ImageDatasetOptions options;
  options.xflip = mirror;
  options.use_labels = false;
  options.gray_to_rgb = true;
  ASSIGN_OR_RETURN(std::unique_ptr<trainer::ImageDataset> dataset,
                   trainer::ImageDataset::Open(path, options));
  if (dataset->size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": needs at least 2 images"));
  }
  return std::shared_ptr<const trainer::ImageDataset>(std::move(dataset));
}

absl::StatusOr<torch::Tensor> FolderFeatures(
    const trainer::ImageDataset& set, trainer::FeatureExtractor& extractor,
    int batch) {
  std::vector<torch::Tensor> parts;
  const int64_t c = set.channels(), r = set.resolution();
  for (int64_t i = 0; i < set.size(); i += batch) {
    const int64_t n = std::min<int64_t>(batch, set.size() - i);
    torch::Tensor images = torch::empty({n, c, r, r}, torch::kUInt8);
    for (int64_t k = 0; k < n; ++k) {
      RETURN_IF_ERROR(set.GetInto(
          i + k, images.data_ptr<uint8_t>() + k * set.item_bytes()));
    }
    ASSIGN_OR_RETURN(torch::Tensor f, extractor.Extract(images));
    parts.push_back(f.to(torch::kCPU));
  }
  return torch::cat(parts);
}

void Print(const std::vector<trainer::MetricResult>& results, double seconds,
           bool json, std::ostream& out) {
  if (json) {
    nlohmann::json doc = {{"seconds", seconds}};
    for (const trainer::MetricResult& r : results) {
      doc["results"][r.metric] = r.value;
      doc["num_fakes"] = r.num_fakes;
      doc["num_reals"] = r.num_reals;
    }
    out << doc.dump(2) << "\n";
    return;
  }
  for (const trainer::MetricResult& r : results) {
    out << absl::StrFormat("%s %.4f  (%d generated or fake images, %d real)\n",
                           r.metric, r.value, r.num_fakes, r.num_reals);
  }
  out << absl::StrFormat("%.1f s\n", seconds);
}

// Two folders: features of both, then the distances.
absl::Status RunFolders(const FidOptions& o, c10::Device device,
                        std::ostream& out) {
  const Clock::time_point start = Clock::now();
  ASSIGN_OR_RETURN(auto real, OpenImages(o.real, false));
  ASSIGN_OR_RETURN(auto fake, OpenImages(o.fake, false));
  std::unique_ptr<trainer::FeatureExtractor> extractor;
  if (!o.inception.empty()) {
    ASSIGN_OR_RETURN(extractor,
                     trainer::LoadInceptionExtractor(o.inception, device));
  } else if (!o.feature_weights.empty()) {
    trainer::EfficientNetTrunk trunk("tf_efficientnet_lite0");
    RETURN_IF_ERROR(
        trainer::LoadFeatureNetworkWeights(*trunk, o.feature_weights));
    ASSIGN_OR_RETURN(extractor, trainer::MakeFeatureNetworkExtractor(
                                    *trunk, "tf_efficientnet_lite0", device));
  } else {
    return absl::InvalidArgumentError(
        "--real/--fake: give --inception FILE (FID) or --feature-weights FILE "
        "(the feature network's FD)");
  }
  ASSIGN_OR_RETURN(torch::Tensor real_features,
                   FolderFeatures(*real, *extractor, o.batch));
  ASSIGN_OR_RETURN(torch::Tensor fake_features,
                   FolderFeatures(*fake, *extractor, o.batch));
  ASSIGN_OR_RETURN(trainer::FeatureStatistics a,
                   trainer::ComputeStatistics(real_features));
  ASSIGN_OR_RETURN(trainer::FeatureStatistics b,
                   trainer::ComputeStatistics(fake_features));
  ASSIGN_OR_RETURN(const double fd, trainer::FrechetDistance(a, b));
  std::vector<trainer::MetricResult> results;
  const bool inception = extractor->name() == "inception_v3";
  results.push_back({inception ? "fid" : "fd_" + extractor->name(), fd,
                     fake->size(), real->size()});
  if (inception) {
    ASSIGN_OR_RETURN(const double kid, trainer::KernelInceptionDistance(
                                           real_features, fake_features));
    results.push_back({"kid", kid, fake->size(), real->size()});
  }
  Print(results, SecondsSince(start), o.json, out);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunFid(const FidOptions& o, std::ostream& out) {
  if (o.batch < 1) return absl::InvalidArgumentError("--batch: must be >= 1");
  ASSIGN_OR_RETURN(const c10::Device device, trainer::ResolveDevice(o.device));
  const bool folders = !o.real.empty() || !o.fake.empty();
  if (folders) {
    if (o.real.empty() || o.fake.empty() || !o.network.empty() ||
        !o.data.empty()) {
      return absl::InvalidArgumentError(
          "give either --network and --data, or --real and --fake");
    }
    return RunFolders(o, device, out);
  }
  if (o.network.empty() || o.data.empty()) {
    return absl::InvalidArgumentError(
        "give either --network and --data, or --real and --fake");
  }
  const Clock::time_point start = Clock::now();
  ASSIGN_OR_RETURN(trainer::Networks nets,
                   trainer::LoadNetworkFile(
                       o.network, trainer::kPartGEma | trainer::kPartD));
  ASSIGN_OR_RETURN(auto dataset, OpenImages(o.data, o.mirror));
  if (dataset->resolution() != nets.config.resolution) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--data ", o.data, ": ", dataset->resolution(), " px images, but ",
        o.network, " generates ", nets.config.resolution, " px"));
  }
  if (nets.config.conditional()) {
    return absl::UnimplementedError(
        absl::StrCat(o.network,
                     ": conditional networks are evaluated during training "
                     "(--metrics); pgan fid takes unconditional ones"));
  }
  std::unique_ptr<trainer::FeatureExtractor> inception, feature_network;
  if (!o.inception.empty()) {
    ASSIGN_OR_RETURN(inception,
                     trainer::LoadInceptionExtractor(o.inception, device));
  }
  ASSIGN_OR_RETURN(
      std::vector<trainer::MetricSpec> specs,
      config::ResolveMetrics({absl::StrCat("fid", o.num, "_full")},
                             inception != nullptr, nets.config.feature_network));
  if (inception == nullptr) {
    ASSIGN_OR_RETURN(feature_network, trainer::MakeFeatureNetworkExtractor(
                                          *nets.D->feature_network->pretrained,
                                          nets.config.feature_network, device));
  }
  RETURN_IF_ERROR(trainer::CatchTorch("preparing G_ema", [&] {
    nets.G_ema->to(device);
    nets.G_ema->eval();
    return absl::OkStatus();
  }));
  trainer::LocalProcessGroup group;
  trainer::MetricsOptions options;
  options.batch = o.batch;
  options.cache_dir = o.metrics_cache;
  options.fallback_cache_dir = o.fallback_stats_cache;
  options.log = o.json ? &std::cerr : &out;
  ASSIGN_OR_RETURN(std::unique_ptr<trainer::MetricsEvaluator> evaluator,
                   trainer::MetricsEvaluator::Create(
                       std::move(specs), std::move(inception),
                       std::move(feature_network), dataset, &group, options));
  RETURN_IF_ERROR(evaluator->PrepareReals());
  ASSIGN_OR_RETURN(trainer::FakePartials partials,
                   evaluator->ExtractFakes(nets.G_ema));
  ASSIGN_OR_RETURN(std::vector<trainer::MetricResult> results,
                   evaluator->Reduce(partials));
  Print(results, SecondsSince(start), o.json, out);
  return absl::OkStatus();
}

}  // namespace pgan::tools
