// DiffAugment 'color,translation,cutout' as Projected GAN applies it
// (reference: pg_modules/diffaug.py): brightness, saturation, contrast,
// translation by up to 1/8 of the side with zero fill, cutout of a square of
// 0.2 of the side (the reference DiffAugment uses 0.5). Differentiable in the
// images. The random parameters are drawn separately from their use, so that
// training can derive them per sample and tests can fix them.
// Functions only; thread-safe given distinct inputs.
#ifndef PGAN_TRAINER_DIFFAUG_H_
#define PGAN_TRAINER_DIFFAUG_H_

#include <torch/types.h>

#include "trainer/sample_random.h"

namespace pgan::trainer {

constexpr double kTranslationRatio = 0.125;
constexpr double kCutoutRatio = 0.2;

struct DiffAugmentParams {
  torch::Tensor brightness;  // [B, 1, 1, 1] in [0, 1): shift = u - 0.5.
  torch::Tensor saturation;  // [B, 1, 1, 1] in [0, 1): factor = 2u.
  torch::Tensor contrast;    // [B, 1, 1, 1] in [0, 1): factor = u + 0.5.
  torch::Tensor translation_x, translation_y;  // [B, 1, 1] int64 in [-S, S].
  torch::Tensor cutout_x, cutout_y;            // [B, 1, 1] int64 centres.
};

// Translation limit S and cutout side L for an image side.
int64_t TranslationShift(int64_t side);
int64_t CutoutSize(int64_t side);

// Draws parameters for a batch of `height` x `width` images: from `random`
// (one stream per sample), or, when null, from the global generator in the
// reference's order (so that seeded runs draw the same numbers).
DiffAugmentParams SampleDiffAugmentParams(int64_t batch, int64_t height,
                                          int64_t width,
                                          const torch::TensorOptions& options,
                                          SampleRandom* random);

torch::Tensor DiffAugment(const torch::Tensor& x, const DiffAugmentParams& p);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_DIFFAUG_H_
