#include "tools/model_commands.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/image_io.h"
#include "common/npy.h"
#include "common/numpy_random.h"
#include "common/status_macros.h"
#include "trainer/device.h"
#include "trainer/efficientnet.h"
#include "trainer/feature_weights.h"
#include "trainer/network_file.h"
#include "trainer/sample_grid.h"
#include "trainer/sample_random.h"
#include "trainer/summary.h"
#include "trainer/torch_status.h"

namespace pgan::tools {
namespace {

namespace fs = std::filesystem;
using trainer::CatchTorch;
using trainer::Networks;

// The reference's gen_images.py conversion.
Image ToImage(const torch::Tensor& chw) {
  const torch::Tensor hwc = trainer::ToUint8Truncated(chw.permute({1, 2, 0}))
                                .to(torch::kCPU)
                                .contiguous();
  Image image;
  image.height = static_cast<int>(hwc.size(0));
  image.width = static_cast<int>(hwc.size(1));
  image.channels = static_cast<int>(hwc.size(2));
  const uint8_t* p = hwc.data_ptr<uint8_t>();
  image.pixels.assign(p, p + hwc.numel());
  return image;
}

}  // namespace

absl::StatusOr<std::vector<int64_t>> ParseSeedList(const std::string& text) {
  std::vector<int64_t> seeds;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> range = absl::StrSplit(part, '-');
    int64_t lo = 0, hi = 0;
    const bool ok = (range.size() == 1 && absl::SimpleAtoi(range[0], &lo) &&
                     (hi = lo, true)) ||
                    (range.size() == 2 && absl::SimpleAtoi(range[0], &lo) &&
                     absl::SimpleAtoi(range[1], &hi));
    if (!ok || lo < 0 || hi < lo || hi > 0xffffffffll || hi - lo > 1000000) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--seeds: \"", part, "\" is not a seed or range like 0-15 (seeds are "
          "0 to 2^32-1)"));
    }
    for (int64_t s = lo; s <= hi; ++s) seeds.push_back(s);
  }
  if (seeds.empty()) return absl::InvalidArgumentError("--seeds: no seeds given");
  return seeds;
}

absl::Status RunSummary(const SummaryOptions& options, std::ostream& out) {
  ASSIGN_OR_RETURN(Networks nets,
                   trainer::BuildNetworks(options.model,
                                          trainer::kPartG | trainer::kPartD));
  const bool pretrained = !options.feature_weights.empty();
  if (pretrained) {
    RETURN_IF_ERROR(trainer::LoadFeatureNetworkWeights(
        *nets.D->feature_network->pretrained, options.feature_weights));
  }
  const trainer::ModelSummary summary = trainer::Summarize(nets);
  if (options.json) {
    out << trainer::SummaryToJson(summary).dump(2) << "\n";
  } else {
    out << trainer::FormatSummary(summary, nets.config, pretrained);
  }
  return absl::OkStatus();
}

absl::Status RunGenerate(const GenerateOptions& options, std::ostream& out) {
  if (options.latents.empty() == options.seeds.empty()) {
    return absl::InvalidArgumentError("give exactly one of --latents and --seeds");
  }
  if (options.batch < 0) {
    return absl::InvalidArgumentError("--batch: must be >= 1 (0: the default)");
  }
  ASSIGN_OR_RETURN(c10::Device device, trainer::ResolveDevice(options.device));
  ASSIGN_OR_RETURN(Networks nets,
                   trainer::LoadNetworkFile(options.network, trainer::kPartGEma));
  const int batch = ForwardBatch(options.batch, nets.config);
  const config::ModelConfig& config = nets.config;
  RETURN_IF_ERROR(CheckSamplingFlags(options.sampling, config));

  // Latents and output names.
  std::vector<float> z;
  std::vector<std::string> names;
  if (!options.latents.empty()) {
    ASSIGN_OR_RETURN(NpyArray array, ReadNpy(options.latents));
    if (array.shape.size() != 2 || array.shape[1] != config.z_dim ||
        array.shape[0] < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          options.latents, ": expected latents of shape [N, ", config.z_dim,
          "] (one row per image), got [", absl::StrJoin(array.shape, ", "), "]"));
    }
    z = std::move(array.data);
    for (int64_t i = 0; i < array.shape[0]; ++i) {
      names.push_back(absl::StrFormat("%06d.png", i));
    }
  } else {
    for (int64_t seed : options.seeds) {
      const std::vector<float> row =
          NumpyRandomState(static_cast<uint32_t>(seed)).Randn(config.z_dim);
      z.insert(z.end(), row.begin(), row.end());
      names.push_back(absl::StrFormat("seed%04d.png", seed));
    }
  }
  const int64_t count = static_cast<int64_t>(names.size());
  RETURN_IF_ERROR(MakeOutputDirectory("--outdir", options.outdir));
  ASSIGN_OR_RETURN(
      torch::Tensor labels,
      ClassLabels(config, options.sampling.class_index, count, device));

  return CatchTorch("generating images", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    trainer::Generator g = nets.G_ema;
    g->to(device);
    g->eval();
    RETURN_IF_ERROR(ApplySamplingFlags(options.sampling, g));
    const torch::Tensor all_z =
        torch::from_blob(z.data(), {count, config.z_dim}, torch::kFloat).to(device);
    for (int64_t begin = 0; begin < count; begin += batch) {
      const int64_t n = std::min<int64_t>(batch, count - begin);
      std::vector<uint64_t> keys;
      for (int64_t i = begin; i < begin + n; ++i) {
        keys.push_back(trainer::MixSeed({options.noise_seed, static_cast<uint64_t>(i)}));
      }
      trainer::SampleRandom noise(keys);
      const torch::Tensor c =
          labels.defined() ? labels.narrow(0, begin, n) : torch::Tensor();
      const torch::Tensor images = g->forward(all_z.narrow(0, begin, n), c, &noise);
      for (int64_t i = 0; i < n; ++i) {
        const std::string path = (fs::path(options.outdir) / names[begin + i]).string();
        RETURN_IF_ERROR(WritePng(path, ToImage(images[i])));
      }
    }
    out << "wrote " << count << " image(s) to " << options.outdir << "\n";
    return absl::OkStatus();
  });
}

absl::Status RunScore(const ScoreOptions& options, std::ostream& out) {
  if (options.batch < 1) return absl::InvalidArgumentError("--batch: must be >= 1");
  std::vector<std::string> files;
  std::error_code ec;
  if (!fs::is_directory(options.images, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--images ", options.images, ": not a directory"));
  }
  for (const auto& entry : fs::directory_iterator(options.images, ec)) {
    if (entry.is_regular_file() && HasImageExtension(entry.path().string())) {
      files.push_back(entry.path().filename().string());
    }
  }
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("--images ", options.images, ": ", ec.message()));
  }
  if (files.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--images ", options.images, ": no .png, .jpg or .jpeg files"));
  }
  std::sort(files.begin(), files.end());

  ASSIGN_OR_RETURN(c10::Device device, trainer::ResolveDevice(options.device));
  ASSIGN_OR_RETURN(Networks nets,
                   trainer::LoadNetworkFile(options.network, trainer::kPartD));
  const config::ModelConfig& config = nets.config;
  const int res = config.resolution;
  ASSIGN_OR_RETURN(torch::Tensor labels,
                   ClassLabels(config, options.class_index,
                               static_cast<int64_t>(files.size()), device));
  std::vector<double> scores;
  RETURN_IF_ERROR(CatchTorch("scoring images", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    trainer::ProjectedDiscriminator d = nets.D;
    d->to(device);
    d->eval();
    for (size_t begin = 0; begin < files.size(); begin += options.batch) {
      const size_t n = std::min<size_t>(options.batch, files.size() - begin);
      torch::Tensor batch = torch::empty({static_cast<int64_t>(n), 3, res, res},
                                         torch::kUInt8);
      for (size_t i = 0; i < n; ++i) {
        const std::string path =
            (fs::path(options.images) / files[begin + i]).string();
        ASSIGN_OR_RETURN(Image image, ReadImage(path));
        if (image.width != res || image.height != res) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ": image is ", image.width, "x", image.height,
              ", the network scores ", res, "x", res, " images"));
        }
        torch::Tensor hwc = torch::from_blob(
            image.pixels.data(), {res, res, image.channels}, torch::kUInt8);
        // Grayscale is repeated to RGB.
        batch[i].copy_(hwc.permute({2, 0, 1}).expand({3, res, res}));
      }
      const torch::Tensor x = batch.to(device).to(torch::kFloat) / 127.5 - 1;
      const torch::Tensor c =
          labels.defined() ? labels.narrow(0, begin, n) : torch::Tensor();
      const torch::Tensor mean =
          d->forward(x, c, /*augment=*/nullptr).mean(/*dim=*/1).to(torch::kDouble).cpu();
      for (size_t i = 0; i < n; ++i) scores.push_back(mean[i].item<double>());
    }
    return absl::OkStatus();
  }));
  if (options.json) {
    out << nlohmann::json{{"files", files}, {"scores", scores}}.dump(2) << "\n";
  } else {
    for (size_t i = 0; i < files.size(); ++i) {
      out << absl::StrFormat("%12.6f  %s\n", scores[i], files[i]);
    }
  }
  return absl::OkStatus();
}

}  // namespace pgan::tools
