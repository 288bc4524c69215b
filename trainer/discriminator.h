// The projected discriminator (reference: pg_modules/discriminator.py):
// DiffAugment -> (resize to 224 below 224 px) -> frozen feature network and
// projector ("feature_network") -> four small trainable discriminators
// ("discriminator.mini_discs.K"), whose patch logits are flattened and
// concatenated. Not thread-safe.
#ifndef PGAN_TRAINER_DISCRIMINATOR_H_
#define PGAN_TRAINER_DISCRIMINATOR_H_

#include <array>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/moduledict.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

#include "trainer/diffaug.h"
#include "trainer/model_geometry.h"
#include "trainer/projector.h"
#include "trainer/spectral_norm.h"

namespace pgan::trainer {

// The reference's SeparableConv2d: an SN depthwise 3x3 conv (padding 1) and
// an SN pointwise 1x1 conv, both without bias.
class SeparableConv2dImpl : public torch::nn::Module {
 public:
  SeparableConv2dImpl(int64_t in_channels, int64_t out_channels);
  torch::Tensor forward(const torch::Tensor& x);

  SNConv2d depthwise{nullptr}, pointwise{nullptr};
};
TORCH_MODULE(SeparableConv2d);

// As `main`: SN conv 4x4 stride 2 (with bias), BatchNorm, LeakyReLU(0.2);
// or, `separable` (the reference's for StyleGAN2), SeparableConv2d,
// BatchNorm, LeakyReLU(0.2), 2x2 average pooling.
class DownBlockImpl : public torch::nn::Module {
 public:
  DownBlockImpl(int64_t in_planes, int64_t out_planes, bool separable = false);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Sequential main{nullptr};
};
TORCH_MODULE(DownBlock);

// One discriminator on feature maps of `in_channels` x start_size^2: down
// blocks until 8 px, then an SN conv 4x4 to one logit channel. Conditional
// discriminators end in a projection: sum_c(cls(h) * cmap(label)) / 8.
class SingleDiscImpl : public torch::nn::Module {
 public:
  SingleDiscImpl(int64_t in_channels, int64_t start_size, bool conditional,
                 bool separable = false);
  // x: features; c: one-hot labels (conditional only). Returns [B, 1, h, w].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c);

  torch::nn::Sequential main{nullptr};
  // Conditional head.
  SNConv2d cls{nullptr};
  torch::nn::Embedding embed{nullptr};
  torch::nn::Sequential embed_proj{nullptr};

 private:
  bool conditional_;
};
TORCH_MODULE(SingleDisc);

class MultiScaleDImpl : public torch::nn::Module {
 public:
  explicit MultiScaleDImpl(const config::ModelConfig& config);
  // Logits [B, N], discriminators in order 0..num_discs-1.
  torch::Tensor forward(const std::array<torch::Tensor, 4>& features,
                        const torch::Tensor& c);

  torch::nn::ModuleDict mini_discs{nullptr};

 private:
  std::vector<SingleDisc> discs_;
};
TORCH_MODULE(MultiScaleD);

class ProjectedDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit ProjectedDiscriminatorImpl(const config::ModelConfig& config);

  // x: images in [-1, 1] convention [B, 3, R, R]; c: one-hot labels or
  // undefined. `augment`: DiffAugment parameters for this batch, or null to
  // score without augmentation. Returns logits [B, LogitsPerImage(config)].
  // `input_grad` false runs augmentation and the frozen feature network
  // without autograd (the D phase needs no gradient there, so the result
  // is the same with less memory and work).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c,
                        const DiffAugmentParams* augment,
                        bool input_grad = true);

  // Keeps the feature network in eval mode whatever `on` is, as the
  // reference's ProjectedDiscriminator.train() does.
  void train(bool on = true) override;

  // Parameters the optimiser trains (the mini discriminators only, less
  // the frozen blocks), in order, with their names under `discriminator.`.
  std::vector<torch::Tensor> trainable_parameters() const;
  std::vector<std::string> trainable_parameter_names() const;

  // Freeze-D (StyleGAN2-ADA's --freezed): the first `blocks` DownBlocks of
  // every mini discriminator keep their weights; their parameters stop
  // requiring gradients and leave trainable_parameters(). 0 = none.
  void set_frozen_blocks(int blocks);
  int frozen_blocks() const { return frozen_blocks_; }

  const config::ModelConfig& config() const { return config_; }

  Projector feature_network{nullptr};
  MultiScaleD discriminator{nullptr};

 private:
  // Whether `name` (under discriminator.) is in a frozen block.
  bool IsFrozen(const std::string& name) const;

  config::ModelConfig config_;
  int frozen_blocks_ = 0;
};
TORCH_MODULE(ProjectedDiscriminator);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_DISCRIMINATOR_H_
