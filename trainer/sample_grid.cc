#include "trainer/sample_grid.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <vector>

#include "common/numpy_random.h"
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
  return TileUint8(
      torch::round((images.to(torch::kCPU, torch::kFloat) + 1) * 127.5)
          .clamp(0, 255)
          .to(torch::kUInt8),
      grid);
}

torch::Tensor ToUint8Truncated(const torch::Tensor& images) {
  return (images * 127.5 + 128).clamp(0, 255).to(torch::kUInt8);
}

Image TileUint8(const torch::Tensor& pixels, GridSize grid) {
  const int64_t c = pixels.size(1), h = pixels.size(2), w = pixels.size(3);
  // [gh, gw, C, H, W] -> [gh, H, gw, W, C]
  const torch::Tensor tiled = pixels.to(torch::kCPU)
                                  .view({grid.height, grid.width, c, h, w})
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

std::vector<int64_t> RealsGridIndices(const ImageDataset& dataset,
                                      GridSize grid) {
  NumpyRandomState random(0);
  std::vector<int64_t> out;
  if (!dataset.has_labels()) {
    std::vector<int64_t> all(dataset.size());
    for (int64_t i = 0; i < dataset.size(); ++i) all[i] = i;
    random.Shuffle(&all);
    for (int64_t i = 0; i < int64_t{grid.width} * grid.height; ++i) {
      out.push_back(all[i % all.size()]);
    }
    return out;
  }
  // The reference's key: the raw label reversed (an integer label is its
  // class; pgan holds it one-hot).
  std::map<std::vector<float>, std::vector<int64_t>> groups;
  std::vector<float> label(dataset.label_dim());
  for (int64_t i = 0; i < dataset.size(); ++i) {
    dataset.LabelInto(i, label.data());
    std::vector<float> key;
    if (dataset.has_onehot_labels()) {
      key = {static_cast<float>(std::max_element(label.begin(), label.end()) -
                                label.begin())};
    } else {
      key.assign(label.rbegin(), label.rend());
    }
    groups[key].push_back(i);
  }
  std::vector<std::vector<int64_t>*> order;
  for (auto& [key, indices] : groups) {
    random.Shuffle(&indices);
    order.push_back(&indices);
  }
  for (int y = 0; y < grid.height; ++y) {
    std::vector<int64_t>& indices = *order[y % order.size()];
    const int64_t n = static_cast<int64_t>(indices.size());
    for (int x = 0; x < grid.width; ++x) out.push_back(indices[x % n]);
    std::rotate(indices.begin(), indices.begin() + grid.width % n,
                indices.end());
  }
  return out;
}

absl::Status WriteRealsGrid(const std::string& path,
                            const ImageDataset& dataset, GridSize grid) {
  const std::vector<int64_t> indices = RealsGridIndices(dataset, grid);
  const int64_t r = dataset.resolution();
  torch::Tensor pixels = torch::empty(
      {static_cast<int64_t>(indices.size()), dataset.channels(), r, r},
      torch::kUInt8);
  for (size_t k = 0; k < indices.size(); ++k) {
    RETURN_IF_ERROR(dataset.GetInto(
        indices[k], pixels.data_ptr<uint8_t>() + k * dataset.item_bytes()));
  }
  return WritePng(path, TileUint8(pixels, grid));
}

absl::Status WriteFakesGrid(const std::string& path, Generator& g_ema,
                            GridSize grid, uint64_t seed, int batch) {
  const config::ModelConfig& config = g_ema->config();
  const int64_t count = static_cast<int64_t>(grid.width) * grid.height;
  torch::Tensor images;
  RETURN_IF_ERROR(
      CatchTorch("rendering the sample grid", [&]() -> absl::Status {
        torch::NoGradGuard no_grad;
        const torch::Device device = g_ema->parameters().front().device();
        // The reference renders its grids with noise_mode='const', which
        // StyleGAN2 honours (FastGAN's noise is always drawn).
        struct RestoreNoiseMode {
          Generator& g;
          NoiseMode mode;
          ~RestoreNoiseMode() { g->set_noise_mode(mode); }
        } restore{g_ema, g_ema->noise_mode()};
        if (g_ema->stylegan2()) g_ema->set_noise_mode(NoiseMode::kConst);
        std::vector<torch::Tensor> parts;
        for (int64_t begin = 0; begin < count; begin += batch) {
          const int64_t n = std::min<int64_t>(batch, count - begin);
          std::vector<uint64_t> z_keys, noise_keys;
          for (int64_t i = begin; i < begin + n; ++i) {
            z_keys.push_back(SampleKey(seed, 0, i, RandomPurpose::kGridLatent));
            noise_keys.push_back(
                SampleKey(seed, 0, i, RandomPurpose::kGridNoise));
          }
          const torch::Tensor z = SampleRandom(z_keys).Normal(
              {config.z_dim}, torch::TensorOptions().device(device));
          torch::Tensor c;
          if (config.conditional()) {
            c = torch::zeros({n, config.c_dim},
                             torch::TensorOptions().device(device));
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
