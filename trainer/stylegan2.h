// The StyleGAN2 generator of Projected GAN's `--cfg stylegan2` (reference:
// pg_modules/networks_stylegan2.py, the "skip" architecture that its
// train.py builds): a mapping network z -> w and a synthesis network of
// modulated convolutions with noise and ToRGB skips. Registered names equal
// the reference's state-dict keys (`mapping.fc0.weight`,
// `synthesis.b8.conv0.affine.bias`, ...) and construction draws its random
// initial values in the reference's order. As the reference's train.py,
// blocks convolve per sample (grouped, "fused") in eval mode and with shared
// weights in training mode. Blocks of the highest `num_fp16_res`
// resolutions compute in fp16 on CUDA devices only, as in the reference;
// everything is fp32 on a CPU. Not thread-safe: the mapping network's
// w_avg is a running average.
#ifndef PGAN_TRAINER_STYLEGAN2_H_
#define PGAN_TRAINER_STYLEGAN2_H_

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <optional>
#include <string>
#include <vector>

#include "trainer/noise_mode.h"
#include "trainer/sample_random.h"
#include "trainer/stylegan2_ops.h"

namespace pgan::trainer::sg2 {

// Where a synthesis forward takes its noise from.
struct NoiseInput {
  NoiseMode mode = NoiseMode::kRandom;
  // Per-sample streams for kRandom, or the global generator when null.
  SampleRandom* source = nullptr;
};

// A linear layer with the reference's equalised learning rate: weights
// stored as N(0, 1) / lr_multiplier and scaled by lr_multiplier / sqrt(in).
class FullyConnectedLayerImpl : public torch::nn::Module {
 public:
  FullyConnectedLayerImpl(int64_t in_features, int64_t out_features,
                          Activation activation = Activation::kLinear,
                          double lr_multiplier = 1, double bias_init = 0);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;

 private:
  Activation activation_;
  double weight_gain_, bias_gain_;
};
TORCH_MODULE(FullyConnectedLayer);

class MappingNetworkImpl : public torch::nn::Module {
 public:
  MappingNetworkImpl(int64_t z_dim, int64_t c_dim, int64_t w_dim,
                     int64_t num_ws, int num_layers);

  // [B, num_ws, w_dim]. `update_emas` moves w_avg towards this batch's mean
  // w (beta 0.998); psi != 1 pulls w towards w_avg on the first
  // `truncation_cutoff` layers (all when absent).
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& c,
                        double truncation_psi = 1,
                        std::optional<int64_t> truncation_cutoff = std::nullopt,
                        bool update_emas = false);

  torch::Tensor w_avg;

 private:
  int64_t z_dim_, c_dim_, num_ws_;
  FullyConnectedLayer embed_{nullptr};
  std::vector<FullyConnectedLayer> layers_;
};
TORCH_MODULE(MappingNetwork);

class SynthesisLayerImpl : public torch::nn::Module {
 public:
  SynthesisLayerImpl(int64_t in_channels, int64_t out_channels, int64_t w_dim,
                     int64_t resolution, int up,
                     std::optional<double> conv_clamp);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& w,
                        const NoiseInput& noise, bool fused);

  FullyConnectedLayer affine{nullptr};
  torch::Tensor weight, noise_strength, bias, resample_filter, noise_const;

 private:
  int64_t resolution_;
  int up_;
  std::optional<double> conv_clamp_;
};
TORCH_MODULE(SynthesisLayer);

class ToRGBLayerImpl : public torch::nn::Module {
 public:
  ToRGBLayerImpl(int64_t in_channels, int64_t out_channels, int64_t w_dim,
                 std::optional<double> conv_clamp);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& w,
                        bool fused);

  FullyConnectedLayer affine{nullptr};
  torch::Tensor weight, bias;

 private:
  double weight_gain_;
  std::optional<double> conv_clamp_;
};
TORCH_MODULE(ToRGBLayer);

// One resolution: (x, img) at half the size -> at this size.
class SynthesisBlockImpl : public torch::nn::Module {
 public:
  // in_channels 0 = the first block (a learned constant input).
  SynthesisBlockImpl(int64_t in_channels, int64_t out_channels, int64_t w_dim,
                     int64_t resolution, int64_t img_channels, bool use_fp16,
                     std::optional<double> conv_clamp);

  // ws: [B, num_conv + num_torgb, w_dim]. Returns x (fp16 in an fp16 block
  // on CUDA) and img (always fp32).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x,
                                                  const torch::Tensor& img,
                                                  const torch::Tensor& ws,
                                                  const NoiseInput& noise);

  int num_conv() const { return conv0_ ? 2 : 1; }
  int num_torgb() const { return 1; }
  bool use_fp16() const { return use_fp16_; }

 private:
  int64_t in_channels_, resolution_;
  bool use_fp16_;
  torch::Tensor resample_filter_, const_;
  SynthesisLayer conv0_{nullptr}, conv1_{nullptr};
  ToRGBLayer torgb_{nullptr};
};
TORCH_MODULE(SynthesisBlock);

struct SynthesisOptions {
  int64_t w_dim = 128;
  int64_t img_resolution = 256;
  int64_t img_channels = 3;
  int64_t channel_base = 32768;
  int64_t channel_max = 512;
  int num_fp16_res = 4;
  std::optional<double> conv_clamp = 256;
};

class SynthesisNetworkImpl : public torch::nn::Module {
 public:
  explicit SynthesisNetworkImpl(const SynthesisOptions& options);
  // ws: [B, num_ws, w_dim] -> images [B, img_channels, R, R], fp32.
  torch::Tensor forward(const torch::Tensor& ws, const NoiseInput& noise);

  int64_t num_ws() const { return num_ws_; }
  // min(channel_base / res, channel_max), the reference's channels_dict.
  static int64_t Channels(const SynthesisOptions& options, int64_t res);

 private:
  SynthesisOptions options_;
  int64_t num_ws_ = 0;
  std::vector<SynthesisBlock> blocks_;
};
TORCH_MODULE(SynthesisNetwork);

}  // namespace pgan::trainer::sg2

#endif  // PGAN_TRAINER_STYLEGAN2_H_
