// The generators of Projected GAN: FastGAN (reference:
// pg_modules/networks_fastgan.py) and StyleGAN2 (networks_stylegan2.py, see
// stylegan2.h), z -> image with no output non-linearity. Registered names
// equal the reference's state-dict keys (`synthesis.*`, and `mapping.*` for
// StyleGAN2). Not thread-safe: forwards in training mode update BatchNorm
// statistics, spectral-norm vectors and StyleGAN2's w_avg.
#ifndef PGAN_TRAINER_GENERATOR_H_
#define PGAN_TRAINER_GENERATOR_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "config/model_config.h"
#include "trainer/layers.h"
#include "trainer/noise_mode.h"
#include "trainer/sample_random.h"
#include "trainer/stylegan2.h"

namespace pgan::trainer {

// nfc[r] = int(mult[r] * ngf), the reference's channel table.
int64_t GeneratorChannels(int resolution, int ngf);

class FastganSynthesisImpl : public torch::nn::Module {
 public:
  explicit FastganSynthesisImpl(const config::ModelConfig& config);

  // z: [B, z_dim]; c: [B, c_dim] one-hot labels (conditional models only).
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& c);

  // Every NoiseInjection module, for the generator to point at a source.
  const std::vector<NoiseInjection>& noise_modules() const { return noise_; }

 private:
  torch::Tensor Up(int resolution, const torch::Tensor& x,
                   const torch::Tensor& c);

  config::ModelConfig config_;
  InitLayer init_{nullptr};
  // Up-block producing r x r, as (x, class embedding) -> y.
  using UpBlockFn =
      std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;
  std::map<int, UpBlockFn> feat_;
  std::map<int, SEBlock> se_;
  SNConv2d to_big_{nullptr};
  torch::nn::Embedding embed_{nullptr};
  std::vector<NoiseInjection> noise_;
};
TORCH_MODULE(FastganSynthesis);

class GeneratorImpl : public torch::nn::Module {
 public:
  explicit GeneratorImpl(const config::ModelConfig& config);

  // z: [B, z_dim]; c: [B, c_dim] one-hot (undefined when unconditional).
  // `noise`: per-sample noise streams (B of them), or null for the global
  // generator, as the reference. `update_emas`: StyleGAN2's mapping network
  // moves its w_avg towards this batch (the reference's D phase).
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& c = {},
                        SampleRandom* noise = nullptr,
                        bool update_emas = false);

  // The two halves of forward, as the reference's G.mapping and
  // G.synthesis. Map: z -> w, which is z itself for FastGAN and
  // [B, num_ws, w_dim] for StyleGAN2 (truncated as set_truncation says).
  torch::Tensor Map(const torch::Tensor& z, const torch::Tensor& c = {},
                    bool update_emas = false);
  torch::Tensor Synthesize(const torch::Tensor& w, const torch::Tensor& c = {},
                           SampleRandom* noise = nullptr);

  // kConst needs StyleGAN2's stored noise; FastGAN refuses it.
  void set_noise_mode(NoiseMode mode);
  NoiseMode noise_mode() const { return noise_mode_; }
  // StyleGAN2's truncation trick (w pulled towards w_avg by psi on the
  // first `cutoff` ws, all when absent); FastGAN has no mapping network and
  // accepts only psi 1.
  void set_truncation(double psi, std::optional<int64_t> cutoff = std::nullopt);
  const config::ModelConfig& config() const { return config_; }
  bool stylegan2() const { return config_.stylegan2(); }

  // The module registered as "synthesis", whichever generator this is.
  torch::nn::Module& synthesis_module();

  FastganSynthesis synthesis{nullptr};           // FastGAN.
  sg2::SynthesisNetwork sg2_synthesis{nullptr};  // StyleGAN2.
  sg2::MappingNetwork mapping{nullptr};          // StyleGAN2.

 private:
  config::ModelConfig config_;
  NoiseMode noise_mode_ = NoiseMode::kRandom;
  double truncation_psi_ = 1;
  std::optional<int64_t> truncation_cutoff_;
};
TORCH_MODULE(Generator);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_GENERATOR_H_
