// The FastGAN generator of Projected GAN (reference:
// pg_modules/networks_fastgan.py): z -> image with no output non-linearity.
// Registered names equal the reference's state-dict keys (`synthesis.*`).
// Not thread-safe: forwards in training mode update BatchNorm statistics and
// spectral-norm vectors.
#ifndef PGAN_TRAINER_GENERATOR_H_
#define PGAN_TRAINER_GENERATOR_H_

#include <functional>
#include <map>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

#include "config/model_config.h"
#include "trainer/layers.h"
#include "trainer/sample_random.h"

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

// How noise injection draws its noise.
enum class NoiseMode {
  kRandom,  // As the reference: fresh N(0, 1) every forward.
  kNone,    // No noise (deterministic output); not in the reference.
};

class GeneratorImpl : public torch::nn::Module {
 public:
  explicit GeneratorImpl(const config::ModelConfig& config);

  // z: [B, z_dim]; c: [B, c_dim] one-hot (undefined when unconditional).
  // `noise`: per-sample noise streams (B of them), or null for the global
  // generator, as the reference.
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& c = {},
                        SampleRandom* noise = nullptr);

  void set_noise_mode(NoiseMode mode);
  const config::ModelConfig& config() const { return config_; }

  FastganSynthesis synthesis{nullptr};

 private:
  config::ModelConfig config_;
};
TORCH_MODULE(Generator);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_GENERATOR_H_
