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
  if (o.batch < 0) {
    return absl::InvalidArgumentError("--batch: must be >= 1 (0: the default)");
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

// One path per cell through its keyframes' w, as gen_video.py interpolates
// them: x = -K*wraps .. K*(wraps+1)-1, y the keyframes tiled. `w` holds the
// keyframes cell-major, `dim` floats each (float32, as the reference's ws).
absl::StatusOr<std::vector<CubicSpline>> LatentPaths(const torch::Tensor& w,
                                                     int cells, int keyframes) {
  const torch::Tensor rows = w.reshape({cells * keyframes, -1}).contiguous();
  const int dim = static_cast<int>(rows.size(1));
  const float* data = rows.data_ptr<float>();
  std::vector<CubicSpline> paths;
  const int n = keyframes * (2 * kWraps + 1);
  std::vector<double> x(n);
  for (int j = 0; j < n; ++j) x[j] = j - keyframes * kWraps;
  for (int cell = 0; cell < cells; ++cell) {
    std::vector<double> y;
    y.reserve(static_cast<size_t>(n) * dim);
    for (int j = 0; j < n; ++j) {
      const float* row =
          data + static_cast<int64_t>(cell * keyframes + j % keyframes) * dim;
      y.insert(y.end(), row, row + dim);
    }
    ASSIGN_OR_RETURN(CubicSpline path, CubicSpline::Fit(x, std::move(y), dim));
    paths.push_back(std::move(path));
  }
  return paths;
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
  RETURN_IF_ERROR(CheckSamplingFlags(o.sampling, config));
  const int batch = ForwardBatch(o.batch, config);
  const int64_t count = static_cast<int64_t>(cells) * keyframes;
  ASSIGN_OR_RETURN(const torch::Tensor labels,
                   ClassLabels(config, o.sampling.class_index, count, device));

  const int res = config.resolution;
  std::unique_ptr<Mp4Writer> video;
  if (!o.output.empty()) {
    ASSIGN_OR_RETURN(
        video, Mp4Writer::Open(
                   o.output, {o.grid_width * res, o.grid_height * res, o.fps}));
  }
  if (!o.frames.empty()) {
    RETURN_IF_ERROR(MakeOutputDirectory("--frames", o.frames));
  }
  const int64_t total = static_cast<int64_t>(keyframes) * o.w_frames;
  RETURN_IF_ERROR(
      trainer::CatchTorch("rendering the video", [&]() -> absl::Status {
        torch::NoGradGuard no_grad;
        trainer::Generator g = nets.G_ema;
        g->to(device);
        g->eval();
        RETURN_IF_ERROR(ApplySamplingFlags(o.sampling, g));
        // The keyframes' w: G.mapping of their z (float32, as the
        // reference's .float()); FastGAN's mapping is the identity.
        std::vector<float> z;
        z.reserve(static_cast<size_t>(count) * config.z_dim);
        for (int64_t seed : keyframe_seeds) {
          const std::vector<float> row =
              NumpyRandomState(static_cast<uint32_t>(seed)).Randn(config.z_dim);
          z.insert(z.end(), row.begin(), row.end());
        }
        const torch::Tensor keys_w =
            g->Map(torch::from_blob(z.data(), {count, config.z_dim},
                                    torch::kFloat)
                       .to(device),
                   labels)
                .to(torch::kCPU, torch::kFloat);
        ASSIGN_OR_RETURN(const std::vector<CubicSpline> paths,
                         LatentPaths(keys_w, cells, keyframes));
        std::vector<int64_t> w_shape = keys_w.sizes().vec();
        w_shape[0] = cells;
        const int64_t dim = keys_w.numel() / count;
        const torch::Tensor cell_labels =
            labels.defined() ? labels.narrow(0, 0, cells) : torch::Tensor();
        std::vector<float> w(static_cast<size_t>(cells) * dim);
        for (int64_t frame = 0; frame < total; ++frame) {
          const double t = static_cast<double>(frame) / o.w_frames;
          for (int cell = 0; cell < cells; ++cell) {
            const std::vector<double> at = paths[cell](t);
            std::copy(at.begin(), at.end(), w.begin() + cell * dim);
          }
          const torch::Tensor all_w =
              torch::from_blob(w.data(), w_shape, torch::kFloat).to(device);
          std::vector<torch::Tensor> images;
          for (int begin = 0; begin < cells; begin += batch) {
            const int n = std::min(batch, cells - begin);
            std::vector<uint64_t> keys;
            for (int cell = begin; cell < begin + n; ++cell) {
              keys.push_back(
                  trainer::MixSeed({o.noise_seed, static_cast<uint64_t>(frame),
                                    static_cast<uint64_t>(cell)}));
            }
            trainer::SampleRandom noise(keys);
            const torch::Tensor c = cell_labels.defined()
                                        ? cell_labels.narrow(0, begin, n)
                                        : torch::Tensor();
            images.push_back(trainer::ToUint8Truncated(
                g->Synthesize(all_w.narrow(0, begin, n), c, &noise)));
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
