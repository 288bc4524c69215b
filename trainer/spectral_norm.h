// Layers with spectral normalisation, reproducing torch.nn.utils.spectral_norm
// exactly: a trainable `weight_orig`, buffers `weight_u` / `weight_v`, one
// power iteration per forward in training mode (none in eval), eps 1e-12,
// dim 0 except for transposed convolutions (dim 1). The state-dict keys are
// therefore the reference's. Modules are not thread-safe (training-mode
// forwards update u and v in place).
#ifndef PGAN_TRAINER_SPECTRAL_NORM_H_
#define PGAN_TRAINER_SPECTRAL_NORM_H_

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

namespace pgan::trainer {

// Square-kernel convolution options, shared by the plain and the transposed
// layer (LibTorch's own option types differ between 1.13 and 2.x).
struct SNConvOptions {
  SNConvOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels),
        out_channels_(out_channels),
        kernel_size_(kernel_size) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(int64_t, padding) = 0;
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(bool, bias) = true;
  // Upsample the input 2x (nearest) first, inside one autograd function that
  // saves only the small input (see upsample_conv.h). Stride 1, no bias.
  TORCH_ARG(bool, upsample_input) = false;
};

// weight_orig / sigma, where sigma estimates the largest singular value of
// weight_orig viewed as a matrix with `dim` first. With `power_iteration`,
// u and v are first refined in place (without gradient), unless frozen by
// FreezeSpectralNormForTesting: then u and v stay as loaded.
torch::Tensor SpectralNormalizedWeight(const torch::Tensor& weight_orig,
                                       torch::Tensor& u, torch::Tensor& v,
                                       int64_t dim, bool power_iteration);

// For one test only (the mains call it when the environment has
// PGAN_TESTING_FREEZE_SPECTRAL_NORM): one process accumulating R rounds runs
// R power iterations per phase where each of N ranks runs R/N, the one
// difference between them that is not rounding, so the
// distributed-equivalence test freezes it to compare the rest exactly.
// Call before training starts.
void FreezeSpectralNormForTesting(bool frozen);

// Registers weight_u / weight_v for `weight` on `module`, initialised as
// PyTorch does: normalize(N(0, 1)) of the matrix's height and width.
void RegisterSpectralNormBuffers(torch::nn::Module& module,
                                 const torch::Tensor& weight, int64_t dim,
                                 torch::Tensor* u, torch::Tensor* v);

class SNConv2dImpl : public torch::nn::Cloneable<SNConv2dImpl> {
 public:
  explicit SNConv2dImpl(SNConvOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  SNConvOptions options;
  torch::Tensor weight_orig, bias, weight_u, weight_v;
};
TORCH_MODULE(SNConv2d);

class SNConvTranspose2dImpl
    : public torch::nn::Cloneable<SNConvTranspose2dImpl> {
 public:
  explicit SNConvTranspose2dImpl(SNConvOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  SNConvOptions options;
  torch::Tensor weight_orig, bias, weight_u, weight_v;
};
TORCH_MODULE(SNConvTranspose2d);

class SNLinearImpl : public torch::nn::Cloneable<SNLinearImpl> {
 public:
  SNLinearImpl(int64_t in_features, int64_t out_features, bool bias);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  int64_t in_features, out_features;
  bool with_bias;
  torch::Tensor weight_orig, bias, weight_u, weight_v;
};
TORCH_MODULE(SNLinear);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_SPECTRAL_NORM_H_
