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
// u and v are first refined in place (without gradient).
torch::Tensor SpectralNormalizedWeight(const torch::Tensor& weight_orig,
                                       torch::Tensor& u, torch::Tensor& v,
                                       int64_t dim, bool power_iteration);

// What the three layers below share: the reference's parameter and buffers,
// and when their power iteration runs. By default (the reference) every
// training-mode forward runs one, so one process accumulating R rounds
// refines u and v R times per phase where each of R ranks does once.
// Under --world-invariant the trainer turns that off and calls
// RefineSpectralNorm at the start of each phase instead: the same number
// of iterations from the same weights whatever the split, hence the same
// vectors on every rank.
class SpectralNormed {
 public:
  virtual ~SpectralNormed() = default;
  // One power iteration, in place, without gradient.
  void PowerIteration();

  torch::Tensor weight_orig, weight_u, weight_v;
  // Whether training-mode forwards refine u and v (see above).
  bool refine_in_forward = true;

 protected:
  explicit SpectralNormed(int64_t dim) : dim_(dim) {}
  // weight_orig / sigma for a forward in training mode or not.
  torch::Tensor NormalizedWeight(bool training);

 private:
  int64_t dim_;
};

// Every spectral-norm layer of `module` (itself included): whether
// training-mode forwards run the power iteration.
void SetSpectralNormRefinement(torch::nn::Module& module, bool in_forward);
// `iterations` power iterations on every spectral-norm layer of `module`.
void RefineSpectralNorm(torch::nn::Module& module, int iterations);

// Registers weight_u / weight_v for `weight` on `module`, initialised as
// PyTorch does: normalize(N(0, 1)) of the matrix's height and width.
void RegisterSpectralNormBuffers(torch::nn::Module& module,
                                 const torch::Tensor& weight, int64_t dim,
                                 torch::Tensor* u, torch::Tensor* v);

class SNConv2dImpl : public torch::nn::Cloneable<SNConv2dImpl>,
                     public SpectralNormed {
 public:
  explicit SNConv2dImpl(SNConvOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  SNConvOptions options;
  torch::Tensor bias;
};
TORCH_MODULE(SNConv2d);

class SNConvTranspose2dImpl
    : public torch::nn::Cloneable<SNConvTranspose2dImpl>,
      public SpectralNormed {
 public:
  explicit SNConvTranspose2dImpl(SNConvOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  SNConvOptions options;
  torch::Tensor bias;
};
TORCH_MODULE(SNConvTranspose2d);

class SNLinearImpl : public torch::nn::Cloneable<SNLinearImpl>,
                     public SpectralNormed {
 public:
  SNLinearImpl(int64_t in_features, int64_t out_features, bool bias);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  int64_t in_features, out_features;
  bool with_bias;
  torch::Tensor bias;
};
TORCH_MODULE(SNLinear);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_SPECTRAL_NORM_H_
