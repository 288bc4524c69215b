#include "tools/fid_command.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <ctime>
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
    const std::string& flag, const std::string& path, bool labels = false) {
  trainer::ImageDatasetOptions options;
  options.use_labels = labels;
  options.gray_to_rgb = true;
  absl::StatusOr<std::unique_ptr<trainer::ImageDataset>> dataset =
      trainer::ImageDataset::Open(path, options);
  if (!dataset.ok()) {
    return absl::Status(dataset.status().code(),
                        absl::StrCat(flag, ": ", dataset.status().message()));
  }
  if ((*dataset)->num_images() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": needs at least 2 images"));
  }
  return std::shared_ptr<const trainer::ImageDataset>(*std::move(dataset));
}

void Print(const std::vector<trainer::MetricSpec>& specs,
           const std::vector<trainer::MetricResult>& results, double seconds,
           const FidOptions& o, std::ostream& out) {
  if (o.json) {
    // calc_metrics.py's report_metric line.
    for (const trainer::MetricSpec& spec : specs) {
      nlohmann::json line = {
          {"results", nlohmann::json::object()},
          {"metric", spec.name},
          {"total_time", seconds},
          {"num_gpus", 1},
          {"snapshot_pkl", o.network.empty() ? nlohmann::json(nullptr)
                                             : nlohmann::json(o.network)},
          {"timestamp", static_cast<double>(std::time(nullptr))}};
      for (const trainer::MetricResult& r : results) {
        if (r.spec != spec.name) continue;
        line["results"][r.metric] = r.value;
        line["num_fakes"] = r.num_fakes;
        line["num_reals"] = r.num_reals;
      }
      out << line.dump() << "\n";
    }
    return;
  }
  for (const trainer::MetricResult& r : results) {
    out << absl::StrFormat("%s %.6g  (%d generated or fake images, %d real)\n",
                           r.metric, r.value, r.num_fakes, r.num_reals);
  }
  out << absl::StrFormat("%.1f s\n", seconds);
}

}  // namespace

absl::Status RunFid(const FidOptions& o, std::ostream& out) {
  if (o.batch < 1) return absl::InvalidArgumentError("--batch: must be >= 1");
  ASSIGN_OR_RETURN(const c10::Device device, trainer::ResolveDevice(o.device));
  const bool folders = !o.real.empty() || !o.fake.empty();
  if (folders ? (o.real.empty() || o.fake.empty() || !o.network.empty() ||
                 !o.data.empty())
              : (o.network.empty() || o.data.empty())) {
    return absl::InvalidArgumentError(
        "give either --network and --data, or --real and --fake");
  }
  const Clock::time_point start = Clock::now();
  std::shared_ptr<const trainer::ImageDataset> reals, fakes;
  trainer::Networks nets;
  std::string timm_name = "tf_efficientnet_lite0";
  const torch::nn::Module* trunk = nullptr;
  trainer::EfficientNetTrunk folder_trunk{nullptr};
  if (folders) {
    ASSIGN_OR_RETURN(reals, OpenImages("--real", o.real));
    ASSIGN_OR_RETURN(fakes, OpenImages("--fake", o.fake));
    if (!o.feature_weights.empty()) {
      folder_trunk = trainer::EfficientNetTrunk(timm_name);
      RETURN_IF_ERROR(
          trainer::LoadFeatureNetworkWeights(*folder_trunk, o.feature_weights));
      trunk = folder_trunk.get();
    }
  } else {
    ASSIGN_OR_RETURN(
        nets, trainer::LoadNetworkFile(o.network,
                                       trainer::kPartGEma | trainer::kPartD));
    // A conditional network's fakes get labels drawn from the dataset's, as
    // the reference's iterate_random_labels does.
    ASSIGN_OR_RETURN(reals,
                     OpenImages("--data", o.data, nets.config.conditional()));
    if (reals->resolution() != nets.config.resolution) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--data ", o.data, ": ", reals->resolution(), " px images, but ",
          o.network, " generates ", nets.config.resolution, " px"));
    }
    if (nets.config.conditional() && reals->label_dim() != nets.config.c_dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--data ", o.data, ": ",
          reals->has_labels() ? absl::StrCat(reals->label_dim(), " classes")
                              : std::string("no labels (dataset.json)"),
          ", but ", o.network, " is conditioned on ", nets.config.c_dim,
          " classes"));
    }
    timm_name = nets.config.feature_network;
    trunk = nets.D->feature_network->pretrained.get();
  }
  std::vector<std::string> names = o.metrics;
  if (names.empty()) {
    names = {folders ? absl::StrCat("fid", fakes->num_images(), "_full")
                     : "fid50k_full"};
  }
  const trainer::DetectorFiles files{o.inception, o.inception_pytorchfid,
                                     o.vgg16};
  absl::StatusOr<std::vector<trainer::MetricSpec>> specs =
      config::ResolveMetrics(
          names, files.available(), timm_name, [](const std::string& key) {
            std::string flag = absl::StrCat("--", key, " FILE");
            std::replace(flag.begin(), flag.end(), '_', '-');
            return flag;
          });
  if (!specs.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics: ", specs.status().message()));
  }
  for (const trainer::MetricSpec& spec : *specs) {
    if (spec.detector == config::MetricDetector::kFeatureNetwork &&
        trunk == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--metrics: ", spec.name,
          " on folders needs --inception FILE "
          "(FID) or --feature-weights FILE (the feature network's FD)"));
    }
  }
  ASSIGN_OR_RETURN(
      trainer::MetricsEvaluator::Extractors extractors,
      trainer::LoadDetectors(*specs, files, trunk, timm_name, device));
  if (!folders) {
    RETURN_IF_ERROR(trainer::CatchTorch("preparing G_ema", [&] {
      nets.G_ema->to(device);
      nets.G_ema->eval();
      return absl::OkStatus();
    }));
  }
  trainer::LocalProcessGroup group;
  trainer::MetricsOptions options;
  options.batch = o.batch;
  options.cache_dir = o.metrics_cache;
  options.fallback_cache_dir = o.fallback_stats_cache;
  options.log = o.json ? &std::cerr : &out;
  ASSIGN_OR_RETURN(std::unique_ptr<trainer::MetricsEvaluator> evaluator,
                   trainer::MetricsEvaluator::Create(
                       *specs, std::move(extractors), reals, &group, options));
  RETURN_IF_ERROR(evaluator->PrepareReals());
  ASSIGN_OR_RETURN(trainer::FakePartials partials,
                   folders ? evaluator->ExtractFakes(*fakes)
                           : evaluator->ExtractFakes(nets.G_ema));
  ASSIGN_OR_RETURN(std::vector<trainer::MetricResult> results,
                   evaluator->Reduce(partials));
  Print(*specs, results, SecondsSince(start), o, out);
  return absl::OkStatus();
}

}  // namespace pgan::tools
