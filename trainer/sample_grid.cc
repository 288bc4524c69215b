#include "trainer/sample_grid.h"

#include <algorithm>

#include <torch/torch.h>

#include "common/status_macros.h"
#include "trainer/sample_random.h"
#include "trainer/torch_status.h"
#include "trainer/training_step.h"

namespace pgan::trainer {

GridSize ResolveGridSize(int resolution, int width, int height, bool on_gpu) {
  GridSize grid;
  grid.width = std::clamp(7680 / resolution, 7, 32);
  grid.height = std::clamp(4320 / resolution, 4, 32);
  if (!on_gpu) {
    grid.width = std::min(grid.width, kCpuGrid.width);
    grid.height = std::min(grid.height, kCpuGrid.height);
  }
  if (width > 0) grid.width = width;
  if (height > 0) grid.height = height;
  return grid;
}

Image TileImages(const torch::Tensor& images, GridSize grid) {
  torch::NoGradGuard no_grad;
  const int64_t c = images.size(1), h = images.size(2), w = images.size(3);
  const torch::Tensor pixels = torch::round((images.to(torch::kCPU, torch::kFloat) + 1) * 127.5)
                                   .clamp(0, 255)
                                   .to(torch::kUInt8);
  // [gh, gw, C, H, W] -> [gh, H, gw, W, C]
  const torch::Tensor tiled = pixels.view({grid.height, grid.width, c, h, w})
                                  .permute({0, 3, 1, 4, 2})
                                  .reshape({grid.height * h, grid.width * w, c})
                                  .contiguous();
  Image image;
  image.height = static_cast<int>(grid.height * h);
  image.width = static_cast<int>(grid.width * w);
  image.channels = static_cast<int>(c);
  image.pixels.assign(tiled.data_ptr<uint8_t>(),
                      tiled.data_ptr<uint8_t>() + tiled.numel());
  return image;
}

absl::Status WriteFakesGrid(const std::string& path, Generator& g_ema,
                            GridSize grid, uint64_t seed, int batch) {
  const config::ModelConfig& config = g_ema->config();
  const int64_t count = static_cast<int64_t>(grid.width) * grid.height;
  torch::Tensor images;
  RETURN_IF_ERROR(CatchTorch("rendering the sample grid", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    const torch::Device device = g_ema->parameters().front().device();
    std::vector<torch::Tensor> parts;
    for (int64_t begin = 0; begin < count; begin += batch) {
      const int64_t n = std::min<int64_t>(batch, count - begin);
      std::vector<uint64_t> z_keys, noise_keys;
      for (int64_t i = begin; i < begin + n; ++i) {
        z_keys.push_back(SampleKey(seed, 0, i, RandomPurpose::kGridLatent));
        noise_keys.push_back(SampleKey(seed, 0, i, RandomPurpose::kGridNoise));
      }
      const torch::Tensor z = SampleRandom(z_keys).Normal(
          {config.z_dim}, torch::TensorOptions().device(device));
      torch::Tensor c;
      if (config.conditional()) {
        c = torch::zeros({n, config.c_dim}, torch::TensorOptions().device(device));
        for (int64_t i = 0; i < n; ++i) {
          c[i][((begin + i) / grid.width) % config.c_dim] = 1;
        }
      }
      SampleRandom noise(noise_keys);
      parts.push_back(g_ema->forward(z, c, &noise).to(torch::kCPU));
    }
    images = torch::cat(parts, 0);
    return absl::OkStatus();
  }));
  return WritePng(path, TileImages(images, grid));
}

}  // namespace pgan::trainer
