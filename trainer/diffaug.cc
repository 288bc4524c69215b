#include "trainer/diffaug.h"

#include <torch/nn/functional/padding.h>
#include <torch/torch.h>

namespace pgan::trainer {
namespace {

namespace F = torch::nn::functional;
using torch::indexing::Slice;

}  // namespace

int64_t TranslationShift(int64_t side) {
  return static_cast<int64_t>(side * kTranslationRatio + 0.5);
}

int64_t CutoutSize(int64_t side) {
  return static_cast<int64_t>(side * kCutoutRatio + 0.5);
}

DiffAugmentParams SampleDiffAugmentParams(int64_t batch, int64_t height,
                                          int64_t width,
                                          const torch::TensorOptions& options,
                                          SampleRandom* random) {
  const int64_t sx = TranslationShift(height), sy = TranslationShift(width);
  const int64_t cx = CutoutSize(height), cy = CutoutSize(width);
  // The centre range includes the far edge for even cutout sizes.
  const int64_t cx_high = height + (1 - cx % 2), cy_high = width + (1 - cy % 2);
  const auto index_options = options.dtype(torch::kInt64);
  DiffAugmentParams p;
  if (random != nullptr) {
    TORCH_CHECK(random->batch_size() == batch, "augment source holds ",
                random->batch_size(), " samples for a batch of ", batch);
    p.brightness = random->Uniform({1, 1, 1}, options);
    p.saturation = random->Uniform({1, 1, 1}, options);
    p.contrast = random->Uniform({1, 1, 1}, options);
    p.translation_x = random->RandInt(-sx, sx + 1, {1, 1}, index_options);
    p.translation_y = random->RandInt(-sy, sy + 1, {1, 1}, index_options);
    p.cutout_x = random->RandInt(0, cx_high, {1, 1}, index_options);
    p.cutout_y = random->RandInt(0, cy_high, {1, 1}, index_options);
    return p;
  }
  p.brightness = torch::rand({batch, 1, 1, 1}, options);
  p.saturation = torch::rand({batch, 1, 1, 1}, options);
  p.contrast = torch::rand({batch, 1, 1, 1}, options);
  p.translation_x = torch::randint(-sx, sx + 1, {batch, 1, 1}, index_options);
  p.translation_y = torch::randint(-sy, sy + 1, {batch, 1, 1}, index_options);
  p.cutout_x = torch::randint(0, cx_high, {batch, 1, 1}, index_options);
  p.cutout_y = torch::randint(0, cy_high, {batch, 1, 1}, index_options);
  return p;
}

torch::Tensor DiffAugment(const torch::Tensor& input, const DiffAugmentParams& p) {
  const int64_t batch = input.size(0), height = input.size(2),
                width = input.size(3);
  // Colour, in the reference's order and with its expressions.
  torch::Tensor x = input + (p.brightness - 0.5);
  torch::Tensor mean = x.mean(/*dim=*/1, /*keepdim=*/true);
  x = (x - mean) * (p.saturation * 2) + mean;
  mean = x.mean(/*dim=*/{1, 2, 3}, /*keepdim=*/true);
  x = (x - mean) * (p.contrast + 0.5) + mean;

  // Translation: gather from a zero-padded copy; indices that leave the
  // image land on the zero border.
  const auto index_options = p.translation_x.options();
  const torch::Tensor gb = torch::arange(batch, index_options).view({batch, 1, 1});
  const torch::Tensor gx = torch::arange(height, index_options).view({1, height, 1});
  const torch::Tensor gy = torch::arange(width, index_options).view({1, 1, width});
  const torch::Tensor ix = torch::clamp(gx + p.translation_x + 1, 0, height + 1);
  const torch::Tensor iy = torch::clamp(gy + p.translation_y + 1, 0, width + 1);
  const torch::Tensor padded =
      F::pad(x, F::PadFuncOptions({1, 1, 1, 1})).permute({0, 2, 3, 1});
  x = padded.index({gb, ix, iy}).permute({0, 3, 1, 2});

  // Cutout: zero a square centred at (cutout_x, cutout_y), clipped to the
  // image (the reference clamps indices, which is the same thing).
  const int64_t cx = CutoutSize(height), cy = CutoutSize(width);
  const torch::Tensor x0 = p.cutout_x - cx / 2;
  const torch::Tensor y0 = p.cutout_y - cy / 2;
  const torch::Tensor in_rows = (gx >= x0) & (gx < x0 + cx);
  const torch::Tensor in_cols = (gy >= y0) & (gy < y0 + cy);
  const torch::Tensor mask = (~(in_rows & in_cols)).to(x.scalar_type());
  return (x * mask.unsqueeze(1)).contiguous();
}

}  // namespace pgan::trainer
