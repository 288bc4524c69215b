// `pgan video`: a latent interpolation video of G_ema, as the reference's
// gen_video.py renders one. A grid of W x H cells; each cell passes
// through `num_keyframes` latents (from --seeds, tiled and optionally
// shuffled as there) on a cubic spline (scipy's interp1d 'cubic' over the
// keyframes repeated `wraps` times on both sides, so the path loops
// smoothly), `w_frames` frames per keyframe. Written as H.264 MP4 (through
// FFmpeg's libraries, where the build has them) and/or as PNG frames.
#ifndef PGAN_TOOLS_VIDEO_COMMAND_H_
#define PGAN_TOOLS_VIDEO_COMMAND_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/sampling_flags.h"

namespace pgan::tools {

struct VideoCommandOptions {
  std::string network;  // Network file.
  std::vector<int64_t> seeds;
  std::optional<uint32_t> shuffle_seed;  // Shuffles the tiled seeds.
  int grid_width = 1;
  int grid_height = 1;
  int num_keyframes = 0;  // 0: seeds / (grid_width * grid_height).
  int w_frames = 120;     // Frames from one keyframe to the next.
  std::string output;     // .mp4 to write; empty: none.
  std::string frames;     // Folder for frame000000.png...; empty: none.
  int fps = 60;
  // --class, --noise-mode (default: the reference's, const for StyleGAN2),
  // --trunc and --trunc-cutoff.
  SamplingFlags sampling;
  int batch = 0;  // Images per forward pass; 0: ForwardBatch's choice.
  uint64_t noise_seed = 0;  // Noise of (frame, cell) from (seed, frame, cell).
  std::string device = "auto";
};
absl::Status RunVideo(const VideoCommandOptions& options, std::ostream& out);

// The seed of every (cell, keyframe), cell-major (index cell * keyframes +
// k, cells row by row): the reference's all_seeds, seeds repeated to
// `cells * keyframes` and shuffled by NumPy's RandomState(shuffle_seed).
// `keyframes` 0 takes seeds / cells, which must then divide.
absl::StatusOr<std::vector<int64_t>> KeyframeSeeds(
    const std::vector<int64_t>& seeds, int cells, int keyframes,
    std::optional<uint32_t> shuffle_seed);

}  // namespace pgan::tools

#endif  // PGAN_TOOLS_VIDEO_COMMAND_H_
