// The FastGAN building blocks of the reference's pg_modules/blocks.py, with
// its module names so that state-dict keys match (for example
// `feat_8.1.weight_orig`, `se_64.main.3.weight_orig`). Modules are not
// thread-safe.
#ifndef PGAN_TRAINER_LAYERS_H_
#define PGAN_TRAINER_LAYERS_H_

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "trainer/sample_random.h"
#include "trainer/spectral_norm.h"

namespace pgan::trainer {

// x[:, :C] * sigmoid(x[:, C:]) for an input of 2C channels.
torch::Tensor Glu(const torch::Tensor& x);
// x * sigmoid(x).
torch::Tensor Swish(const torch::Tensor& x);
// Nearest-neighbour upsampling by 2.
torch::Tensor Upsample2x(const torch::Tensor& x);
// z * rsqrt(mean(z^2) + 1e-8) over the latent dimension ("map to sphere").
torch::Tensor NormalizeSecondMoment(const torch::Tensor& z);

// Adds weight * n with n ~ N(0, 1) of shape [B, 1, H, W], fresh every call
// (the reference has no constant-noise mode). `weight` starts at 0.
class NoiseInjectionImpl : public torch::nn::Cloneable<NoiseInjectionImpl> {
 public:
  NoiseInjectionImpl() { reset(); }
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  // Where the noise comes from during the next forwards: per-sample streams,
  // or the global generator when null. Not owned.
  void set_source(SampleRandom* source) { source_ = source; }
  // Disabled noise adds nothing (pgan's `--noise-mode none`).
  void set_enabled(bool enabled) { enabled_ = enabled; }

  torch::Tensor weight;

 private:
  SampleRandom* source_ = nullptr;
  bool enabled_ = true;
};
TORCH_MODULE(NoiseInjection);

// Class-conditional batch norm: batch norm without affine on its own buffers
// (stored_mean, stored_var), then out * (1 + gain(e)) + bias(e).
class CCBNImpl : public torch::nn::Module {
 public:
  CCBNImpl(int64_t output_size, int64_t input_size);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y);

  SNLinear gain{nullptr}, bias{nullptr};
  torch::Tensor stored_mean, stored_var;
};
TORCH_MODULE(CCBN);

// z [B, nz] -> [B, channel, 4, 4]: SN transposed conv, BN, GLU.
class InitLayerImpl : public torch::nn::Module {
 public:
  InitLayerImpl(int64_t nz, int64_t channel);
  torch::Tensor forward(const torch::Tensor& z);

  torch::nn::Sequential init{nullptr};
};
TORCH_MODULE(InitLayer);

// Unconditional up-blocks as the reference's nn.Sequential (indices matter).
// Big: up, conv, noise, BN, GLU, conv, noise, BN, GLU. Small: up, conv, BN, GLU.
torch::nn::Sequential MakeUpBlockBig(int64_t in_planes, int64_t out_planes);
torch::nn::Sequential MakeUpBlockSmall(int64_t in_planes, int64_t out_planes);

// Conditional up-blocks; the big one shares one NoiseInjection between its
// two halves, as the reference does.
class UpBlockBigCondImpl : public torch::nn::Module {
 public:
  UpBlockBigCondImpl(int64_t in_planes, int64_t out_planes, int64_t z_dim);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c);

  SNConv2d conv1{nullptr}, conv2{nullptr};
  CCBN bn1{nullptr}, bn2{nullptr};
  NoiseInjection noise{nullptr};
};
TORCH_MODULE(UpBlockBigCond);

class UpBlockSmallCondImpl : public torch::nn::Module {
 public:
  UpBlockSmallCondImpl(int64_t in_planes, int64_t out_planes, int64_t z_dim);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c);

  SNConv2d conv{nullptr};
  CCBN bn{nullptr};
};
TORCH_MODULE(UpBlockSmallCond);

// Skip-layer excitation: feat_big * sigmoid(conv1x1(swish(conv4x4(
// avgpool4(feat_small))))).
class SEBlockImpl : public torch::nn::Module {
 public:
  SEBlockImpl(int64_t ch_in, int64_t ch_out);
  torch::Tensor forward(const torch::Tensor& feat_small,
                        const torch::Tensor& feat_big);

  torch::nn::Sequential main{nullptr};
};
TORCH_MODULE(SEBlock);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_LAYERS_H_
