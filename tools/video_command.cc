#include "tools/video_command.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/cubic_spline.h"
#include "common/image_io.h"
#include "common/numpy_random.h"
#include "common/status_macros.h"
#include "common/video_writer.h"
#include "trainer/device.h"
#include "trainer/network_file.h"
#include "trainer/sample_grid.h"
#include "trainer/sample_random.h"
#include "trainer/torch_status.h"

namespace pgan::tools {
namespace {

namespace fs = std::filesystem;

// gen_video.py's `wraps`: the keyframes are repeated this often before and
// after, so the spline through them starts and ends as it would in a loop.
constexpr int kWraps = 2;

absl::Status CheckOptions(const VideoCommandOptions& o) {
  if (o.seeds.empty())
    return absl::InvalidArgumentError("--seeds: no seeds given");
  if (o.grid_width < 1 || o.grid_height < 1 || o.grid_width > 64 ||
      o.grid_height > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grid: expected 1x1 to 64x64 cells, got ", o.grid_width,
                     "x", o.grid_height));
  }
  if (o.num_keyframes < 0 || o.num_keyframes > 100000) {
    return absl::InvalidArgumentError(
        "--num-keyframes: expected 1 to 100000 (or none: seeds / cells)");
  }
  if (o.w_frames < 1 || o.w_frames > 100000) {
    return absl::InvalidArgumentError("--w-frames: expected 1 to 100000");
  }
  if (o.fps < 1 || o.fps > 1000) {
    return absl::InvalidArgumentError("--fps: expected 1 to 1000");
  }
  if (o.batch < 1) return absl::InvalidArgumentError("--batch: must be >= 1");
  if (o.noise_mode != "random" && o.noise_mode != "none") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--noise-mode: expected random or none, got \"", o.noise_mode, "\""));
  }
  if (o.output.empty() && o.frames.empty()) {
    return absl::InvalidArgumentError(
        "give --output FILE.mp4, --frames DIR (PNG frames), or both");
  }
  if (!o.output.empty() && !absl::EndsWithIgnoreCase(o.output, ".mp4")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--output ", o.output,
                     ": expected a .mp4 file (--frames DIR writes "
                     "PNG frames)"));
  }
  return absl::OkStatus();
}

// One latent path per cell through its keyframes' z, as gen_video.py
// interpolates them: x = -K*wraps .. K*(wraps+1)-1, y the keyframes tiled.
// (FastGAN's mapping is the identity, so its w are its z.)
absl::StatusOr<std::vector<CubicSpline>> LatentPaths(
    const std::vector<int64_t>& keyframe_seeds, int cells, int keyframes,
    int z_dim) {
  std::vector<CubicSpline> paths;
  const int n = keyframes * (2 * kWraps + 1);
  std::vector<double> x(n);
  for (int j = 0; j < n; ++j) x[j] = j - keyframes * kWraps;
  for (int cell = 0; cell < cells; ++cell) {
    std::vector<std::vector<float>> z(keyframes);
    for (int k = 0; k < keyframes; ++k) {
      // float32, as the reference's .float() before G.mapping.
      z[k] = NumpyRandomState(
                 static_cast<uint32_t>(keyframe_seeds[cell * keyframes + k]))
                 .Randn(z_dim);
    }
    std::vector<double> y;
    y.reserve(static_cast<size_t>(n) * z_dim);
    for (int j = 0; j < n; ++j) {
      const std::vector<float>& row = z[j % keyframes];
      y.insert(y.end(), row.begin(), row.end());
    }
    ASSIGN_OR_RETURN(CubicSpline path,
                     CubicSpline::Fit(x, std::move(y), z_dim));
    paths.push_back(std::move(path));
  }
  return paths;
}

absl::Status MakeDirectory(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("--frames ", dir, ": cannot create: ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<int64_t>> KeyframeSeeds(
    const std::vector<int64_t>& seeds, int cells, int keyframes,
    std::optional<uint32_t> shuffle_seed) {
  if (seeds.empty() || cells < 1) {
    return absl::InvalidArgumentError("--seeds: no seeds given");
  }
  if (keyframes == 0) {
    if (seeds.size() % cells != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--seeds: ", seeds.size(), " seeds do not divide among the grid's ",
          cells, " cells; give a multiple of ", cells, " or --num-keyframes"));
    }
    keyframes = static_cast<int>(seeds.size() / cells);
  }
  std::vector<int64_t> all(static_cast<size_t>(cells) * keyframes);
  for (size_t i = 0; i < all.size(); ++i) all[i] = seeds[i % seeds.size()];
  if (shuffle_seed.has_value()) NumpyRandomState(*shuffle_seed).Shuffle(&all);
  return all;
}

absl::Status RunVideo(const VideoCommandOptions& o, std::ostream& out) {
  RETURN_IF_ERROR(CheckOptions(o));
  const int cells = o.grid_width * o.grid_height;
  ASSIGN_OR_RETURN(
      const std::vector<int64_t> keyframe_seeds,
      KeyframeSeeds(o.seeds, cells, o.num_keyframes, o.shuffle_seed));
  const int keyframes = static_cast<int>(keyframe_seeds.size() / cells);
  ASSIGN_OR_RETURN(c10::Device device, trainer::ResolveDevice(o.device));
  ASSIGN_OR_RETURN(trainer::Networks nets,
                   trainer::LoadNetworkFile(o.network, trainer::kPartGEma));
  const config::ModelConfig& config = nets.config;
  if (config.conditional() != (o.class_index >= 0) ||
      o.class_index >= config.c_dim) {
    return absl::InvalidArgumentError(
        config.conditional()
            ? absl::StrCat("--class: this network is conditional on ",
                           config.c_dim,
                           " classes; give a class index from 0 "
                           "to ",
                           config.c_dim - 1)
            : std::string("--class: this network is unconditional (c_dim 0)"));
  }
  ASSIGN_OR_RETURN(const std::vector<CubicSpline> paths,
                   LatentPaths(keyframe_seeds, cells, keyframes, config.z_dim));

  const int res = config.resolution;
  std::unique_ptr<Mp4Writer> video;
  if (!o.output.empty()) {
    ASSIGN_OR_RETURN(
        video, Mp4Writer::Open(
                   o.output, {o.grid_width * res, o.grid_height * res, o.fps}));
  }
  if (!o.frames.empty()) RETURN_IF_ERROR(MakeDirectory(o.frames));
  const int64_t total = static_cast<int64_t>(keyframes) * o.w_frames;
  RETURN_IF_ERROR(
      trainer::CatchTorch("rendering the video", [&]() -> absl::Status {
        torch::NoGradGuard no_grad;
        trainer::Generator g = nets.G_ema;
        g->to(device);
        g->eval();
        g->set_noise_mode(o.noise_mode == "none" ? trainer::NoiseMode::kNone
                                                 : trainer::NoiseMode::kRandom);
        torch::Tensor labels;
        if (config.conditional()) {
          labels = torch::zeros({cells, config.c_dim});
          labels.select(1, o.class_index).fill_(1);
          labels = labels.to(device);
        }
        std::vector<float> z(static_cast<size_t>(cells) * config.z_dim);
        for (int64_t frame = 0; frame < total; ++frame) {
          const double t = static_cast<double>(frame) / o.w_frames;
          for (int cell = 0; cell < cells; ++cell) {
            const std::vector<double> w = paths[cell](t);
            std::copy(w.begin(), w.end(), z.begin() + cell * config.z_dim);
          }
          const torch::Tensor all_z =
              torch::from_blob(z.data(), {cells, config.z_dim}, torch::kFloat)
                  .to(device);
          std::vector<torch::Tensor> images;
          for (int begin = 0; begin < cells; begin += o.batch) {
            const int n = std::min(o.batch, cells - begin);
            std::vector<uint64_t> keys;
            for (int cell = begin; cell < begin + n; ++cell) {
              keys.push_back(
                  trainer::MixSeed({o.noise_seed, static_cast<uint64_t>(frame),
                                    static_cast<uint64_t>(cell)}));
            }
            trainer::SampleRandom noise(keys);
            const torch::Tensor c =
                labels.defined() ? labels.narrow(0, begin, n) : torch::Tensor();
            images.push_back(trainer::ToUint8Truncated(
                g->forward(all_z.narrow(0, begin, n), c, &noise)));
          }
          const Image tiled = trainer::TileUint8(
              torch::cat(images).to(torch::kCPU),
              trainer::GridSize{o.grid_width, o.grid_height});
          if (video != nullptr) RETURN_IF_ERROR(video->Append(tiled));
          if (!o.frames.empty()) {
            RETURN_IF_ERROR(WritePng(
                (fs::path(o.frames) / absl::StrFormat("frame%06d.png", frame))
                    .string(),
                tiled));
          }
        }
        return absl::OkStatus();
      }));
  if (video != nullptr) RETURN_IF_ERROR(video->Close());
  out << absl::StrFormat(
      "wrote %d frames (%d keyframes x %d, %dx%d cells of %d px, %d fps) to "
      "%s%s%s\n",
      total, keyframes, o.w_frames, o.grid_width, o.grid_height, res, o.fps,
      o.output, !o.output.empty() && !o.frames.empty() ? " and " : "",
      o.frames);
  return absl::OkStatus();
}

}  // namespace pgan::tools
