// conv2d(nearest_upsample_2x(x), w): the first convolution of every FastGAN
// up-block. As one autograd function it keeps only x (not the 4x larger
// upsampled tensor) for the backward pass and upsamples again there; the
// values and gradients are those of the two separate ops, bit for bit, with
// a quarter of the saved activation. Thread-safe (a function).
#ifndef PGAN_TRAINER_UPSAMPLE_CONV_H_
#define PGAN_TRAINER_UPSAMPLE_CONV_H_

#include <torch/types.h>

namespace pgan::trainer {

// x: [B, C, H, W]; weight: [O, C, k, k]; stride 1, no bias.
torch::Tensor UpsampleConv2d(const torch::Tensor& x, const torch::Tensor& weight,
                             int64_t padding);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_UPSAMPLE_CONV_H_
