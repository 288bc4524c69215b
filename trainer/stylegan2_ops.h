// The resampling and activation ops of StyleGAN2 (the reference's
// torch_utils/ops: upfirdn2d, bias_act, conv2d_resample and
// networks_stylegan2.modulated_conv2d), as their pure-PyTorch reference
// implementations, which the reference itself runs on a CPU. They are the
// same sequence of ATen calls, so results are bit-equal there; on a GPU the
// reference may use its CUDA plugins instead, which agree to float rounding.
// Stateless and thread-safe.
#ifndef PGAN_TRAINER_STYLEGAN2_OPS_H_
#define PGAN_TRAINER_STYLEGAN2_OPS_H_

#include <torch/types.h>

#include <optional>
#include <vector>

namespace pgan::trainer::sg2 {

// upfirdn2d.setup_filter for a 1-D list of taps below 8 (the outer product,
// normalised to sum 1): [1, 3, 3, 1] gives the reference's 4 x 4 filter.
torch::Tensor SetupFilter(const std::vector<double>& taps);

// Padding as the reference's [x0, x1, y0, y1].
struct Padding {
  int x0 = 0, x1 = 0, y0 = 0, y1 = 0;
};

// _upfirdn2d_ref: upsample by inserting zeros, pad (or crop where
// negative), convolve with `f` (2-D, float32; undefined = identity) scaled by
// `gain`, then keep every `down`-th pixel.
torch::Tensor Upfirdn2d(const torch::Tensor& x, const torch::Tensor& f, int up,
                        int down, const Padding& padding, double gain,
                        bool flip_filter = false);

// upfirdn2d.upsample2d with the default padding.
torch::Tensor Upsample2d(const torch::Tensor& x, const torch::Tensor& f,
                         int up = 2);

enum class Activation { kLinear, kLrelu };

// The activation's default gain: 1 for linear, sqrt(2) for lrelu.
double DefaultGain(Activation act);

// _bias_act_ref: x + b (along dim 1), the activation (leaky slope 0.2), times
// `gain` (the activation's default when absent), clamped to +-clamp when
// one is given.
torch::Tensor BiasAct(const torch::Tensor& x, const torch::Tensor& b,
                      Activation act, std::optional<double> gain = std::nullopt,
                      std::optional<double> clamp = std::nullopt);

// conv2d_resample.conv2d_resample for up in {1, 2} and no downsampling: the
// paths StyleGAN2's synthesis network takes. `flip_weight` false is a true
// convolution.
torch::Tensor Conv2dResample(const torch::Tensor& x, const torch::Tensor& w,
                             const torch::Tensor& f, int up, int padding,
                             int64_t groups, bool flip_weight);

struct ModulatedConvOptions {
  torch::Tensor noise;  // Added to the output; undefined = none.
  int up = 1;
  int padding = 0;
  torch::Tensor resample_filter;
  bool demodulate = true;
  bool flip_weight = true;
  // One grouped convolution with per-sample weights (the reference's
  // inference path), or the activations scaled before and after one shared
  // convolution (its training path).
  bool fused = true;
};

// networks_stylegan2.modulated_conv2d. x: [B, I, H, W], weight [O, I, k, k],
// styles [B, I].
torch::Tensor ModulatedConv2d(torch::Tensor x, torch::Tensor weight,
                              torch::Tensor styles,
                              const ModulatedConvOptions& options);

}  // namespace pgan::trainer::sg2

#endif  // PGAN_TRAINER_STYLEGAN2_OPS_H_
