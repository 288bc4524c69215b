#include "trainer/discriminator.h"

#include <torch/nn/functional/upsampling.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pgan::trainer {
namespace {

namespace F = torch::nn::functional;

constexpr int64_t kEndSize = 8;
constexpr int64_t kCmapDim = 64;
constexpr int64_t kEmbeddingDim = 128;

torch::nn::LeakyReLU LeakyRelu02() {
  return torch::nn::LeakyReLU(
      torch::nn::LeakyReLUOptions().negative_slope(0.2));
}

}  // namespace

SeparableConv2dImpl::SeparableConv2dImpl(int64_t in_channels,
                                         int64_t out_channels) {
  depthwise = register_module(
      "depthwise", SNConv2d(SNConvOptions(in_channels, in_channels, 3)
                                .groups(in_channels)
                                .padding(1)
                                .bias(false)));
  pointwise = register_module(
      "pointwise",
      SNConv2d(SNConvOptions(in_channels, out_channels, 1).bias(false)));
}

torch::Tensor SeparableConv2dImpl::forward(const torch::Tensor& x) {
  return pointwise(depthwise(x));
}

DownBlockImpl::DownBlockImpl(int64_t in_planes, int64_t out_planes,
                             bool separable) {
  if (separable) {
    main = register_module(
        "main",
        torch::nn::Sequential(
            SeparableConv2d(in_planes, out_planes),
            torch::nn::BatchNorm2d(out_planes), LeakyRelu02(),
            torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2).stride(2))));
    return;
  }
  main = register_module(
      "main",
      torch::nn::Sequential(SNConv2d(SNConvOptions(in_planes, out_planes, 4)
                                         .stride(2)
                                         .padding(1)
                                         .bias(true)),
                            torch::nn::BatchNorm2d(out_planes), LeakyRelu02()));
}

torch::Tensor DownBlockImpl::forward(const torch::Tensor& x) {
  return main->forward(x);
}

SingleDiscImpl::SingleDiscImpl(int64_t in_channels, int64_t start_size,
                               bool conditional, bool separable)
    : conditional_(conditional) {
  // The reference's channel table; the entry of the start size is replaced
  // by the input width.
  std::map<int64_t, int64_t> nfc = {{4, 512},  {8, 512},  {16, 256},
                                    {32, 128}, {64, 64},  {128, 64},
                                    {256, 32}, {512, 16}, {1024, 8}};
  TORCH_CHECK(nfc.count(start_size), "unsupported start size ", start_size);
  nfc[start_size] = in_channels;
  torch::nn::Sequential layers;
  for (int64_t s = start_size; s > kEndSize; s /= 2) {
    layers->push_back(DownBlock(nfc[s], nfc[s / 2], separable));
  }
  if (!conditional) {
    layers->push_back(SNConv2d(SNConvOptions(nfc[kEndSize], 1, 4).bias(false)));
  }
  main = register_module("main", layers);
  if (conditional) {
    cls = register_module(
        "cls", SNConv2d(SNConvOptions(nfc[kEndSize], kCmapDim, 4).bias(false)));
    // Always 1000 classes, as the reference.
    embed = register_module("embed", torch::nn::Embedding(1000, kEmbeddingDim));
    embed_proj = register_module(
        "embed_proj",
        torch::nn::Sequential(torch::nn::Linear(kEmbeddingDim, kCmapDim),
                              LeakyRelu02()));
  }
}

torch::Tensor SingleDiscImpl::forward(const torch::Tensor& x,
                                      const torch::Tensor& c) {
  // An 8 px start leaves no down-blocks: Python's empty Sequential is the
  // identity, LibTorch's throws.
  const torch::Tensor h = main->is_empty() ? x : main->forward(x);
  if (!conditional_) return h;
  TORCH_CHECK(c.defined() && c.dim() == 2 && c.size(0) == x.size(0),
              "a conditional discriminator needs one-hot labels [B, c_dim]");
  const torch::Tensor out = cls(h);
  const torch::Tensor cmap =
      embed_proj->forward(embed(c.argmax(1))).unsqueeze(-1).unsqueeze(-1);
  return (out * cmap).sum(/*dim=*/1, /*keepdim=*/true) *
         (1.0 / std::sqrt(static_cast<double>(kCmapDim)));
}

MultiScaleDImpl::MultiScaleDImpl(const config::ModelConfig& config) {
  const ProjectorGeometry geometry = ComputeProjectorGeometry(config);
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> named;
  for (int k = 0; k < config.num_discs; ++k) {
    SingleDisc disc(geometry.channels[k], geometry.resolutions[k],
                    config.conditional(), config.separable_discs());
    named.emplace_back(std::to_string(k), disc.ptr());
    discs_.push_back(disc);
  }
  mini_discs = register_module("mini_discs", torch::nn::ModuleDict(named));
}

torch::Tensor MultiScaleDImpl::forward(
    const std::array<torch::Tensor, 4>& features, const torch::Tensor& c) {
  std::vector<torch::Tensor> logits;
  for (size_t k = 0; k < discs_.size(); ++k) {
    logits.push_back(
        discs_[k]->forward(features[k], c).view({features[k].size(0), -1}));
  }
  return torch::cat(logits, /*dim=*/1);
}

ProjectedDiscriminatorImpl::ProjectedDiscriminatorImpl(
    const config::ModelConfig& config)
    : config_(config) {
  feature_network = register_module("feature_network", Projector(config));
  discriminator = register_module("discriminator", MultiScaleD(config));
  // Frozen: the trunk holds pretrained (or declared-random) features and the
  // projections are random but fixed for the life of the model.
  for (torch::Tensor& p : feature_network->parameters())
    p.requires_grad_(false);
  train(true);
}

void ProjectedDiscriminatorImpl::train(bool on) {
  torch::nn::Module::train(on);
  feature_network->train(false);
}

bool ProjectedDiscriminatorImpl::IsFrozen(const std::string& name) const {
  if (frozen_blocks_ == 0) return false;  // Every phase asks; the usual case.
  // "mini_discs.<k>.main.<j>.<...>": block j of mini discriminator k. The
  // last layer of main (a plain conv in unconditional ones) is never frozen:
  // only DownBlocks count.
  const std::vector<absl::string_view> parts = absl::StrSplit(name, '.');
  int64_t block = 0;
  if (parts.size() < 5 || parts[0] != "mini_discs" || parts[2] != "main" ||
      !absl::SimpleAtoi(parts[3], &block) || block >= frozen_blocks_) {
    return false;
  }
  const std::string key(parts[1]);
  if (!discriminator->mini_discs->contains(key)) return false;
  const SingleDiscImpl* disc =
      (*discriminator->mini_discs)[key]->as<SingleDiscImpl>();
  return disc != nullptr && block < static_cast<int64_t>(disc->main->size()) &&
         disc->main->ptr(block)->as<DownBlockImpl>() != nullptr;
}

std::vector<torch::Tensor> ProjectedDiscriminatorImpl::trainable_parameters()
    const {
  std::vector<torch::Tensor> out;
  for (const auto& item : discriminator->named_parameters()) {
    if (!IsFrozen(item.key())) out.push_back(item.value());
  }
  return out;
}

std::vector<std::string> ProjectedDiscriminatorImpl::trainable_parameter_names()
    const {
  std::vector<std::string> out;
  for (const auto& item : discriminator->named_parameters()) {
    if (!IsFrozen(item.key())) out.push_back("discriminator." + item.key());
  }
  return out;
}

void ProjectedDiscriminatorImpl::set_frozen_blocks(int blocks) {
  frozen_blocks_ = blocks;
  for (auto& item : discriminator->named_parameters()) {
    item.value().set_requires_grad(!IsFrozen(item.key()));
  }
}

torch::Tensor ProjectedDiscriminatorImpl::forward(
    const torch::Tensor& x, const torch::Tensor& c,
    const DiffAugmentParams* augment, bool input_grad) {
  std::array<torch::Tensor, 4> features;
  {
    c10::optional<torch::NoGradGuard> no_grad;
    if (!input_grad) no_grad.emplace();
    torch::Tensor h = augment != nullptr ? DiffAugment(x, *augment) : x;
    if (config_.interp224()) {
      h = F::interpolate(h, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{224, 224})
                                .mode(torch::kBilinear)
                                .align_corners(false));
    }
    features = feature_network->forward(h);
  }
  return discriminator->forward(features, c);
}

}  // namespace pgan::trainer
