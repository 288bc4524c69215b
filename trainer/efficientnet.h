// The frozen feature network: the EfficientNet-Lite0/Lite1 trunk of timm's
// tf_efficientnet_lite{0,1} (ReLU6, no squeeze-excitation, TensorFlow SAME
// padding, BatchNorm eps 1e-3), cut into the four stages the reference uses:
//   layer0 = conv_stem, bn1, act1, blocks[0], blocks[1]   (stride 4, 24 ch)
//   layer1 = blocks[2]                                      (stride 8, 40 ch)
//   layer2 = blocks[3], blocks[4]                           (stride 16, 112 ch)
//   layer3 = blocks[5], blocks[6]                           (stride 32, 320 ch)
// Always in eval mode (the owner enforces it). Not thread-safe.
#ifndef PGAN_TRAINER_EFFICIENTNET_H_
#define PGAN_TRAINER_EFFICIENTNET_H_

#include <array>
#include <string>

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "trainer/stack.h"

namespace pgan::trainer {

// Conv2d without bias and with TensorFlow's SAME padding: for stride s and
// kernel k, total = max((ceil(x/s) - 1) * s + k - x, 0), split with the extra
// pixel at the bottom/right. Registers only `weight`, as timm's layers.
class SameConv2dImpl : public torch::nn::Cloneable<SameConv2dImpl> {
 public:
  SameConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                 int64_t groups);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  int64_t in, out, kernel, stride, groups;
  torch::Tensor weight;
};
TORCH_MODULE(SameConv2d);

// timm's DepthwiseSeparableConv: conv_dw, bn1, ReLU6, conv_pw, bn2.
class DepthwiseSeparableImpl : public torch::nn::Module {
 public:
  DepthwiseSeparableImpl(int64_t in, int64_t out, int64_t kernel,
                         int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  SameConv2d conv_dw{nullptr}, conv_pw{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  bool residual;
};
TORCH_MODULE(DepthwiseSeparable);

// timm's InvertedResidual (MBConv, expansion 6, no SE): conv_pw, bn1, ReLU6,
// conv_dw, bn2, ReLU6, conv_pwl, bn3, plus the input when shapes allow.
class InvertedResidualImpl : public torch::nn::Module {
 public:
  InvertedResidualImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  SameConv2d conv_pw{nullptr}, conv_dw{nullptr}, conv_pwl{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  bool residual;
};
TORCH_MODULE(InvertedResidual);

// "pretrained" in the reference's F_RandomProj.
class EfficientNetTrunkImpl : public torch::nn::Module {
 public:
  // `name`: "tf_efficientnet_lite0" or "tf_efficientnet_lite1".
  explicit EfficientNetTrunkImpl(const std::string& name);

  // Stage outputs for x in [-1, 1] (the tf_ weights expect mean = std = 0.5).
  std::array<torch::Tensor, 4> forward(const torch::Tensor& x);

  torch::nn::Sequential layer0{nullptr}, layer1{nullptr}, layer2{nullptr},
      layer3{nullptr};
};
TORCH_MODULE(EfficientNetTrunk);

// Replays a side effect of the reference's D construction: its channel
// probe (projector.calc_channels) runs one zero 224x224 image through the
// freshly created trunk while it is still in training mode, which moves every
// BatchNorm's running statistics 10% towards that batch's statistics and sets
// num_batches_tracked to 1. Every reference D carries these statistics, so a
// pgan D built from timm weights replays the probe to be the same network.
void ReplayReferenceChannelProbe(EfficientNetTrunkImpl& trunk);

// Maps a timm state-dict key (for example "blocks.1.1.conv_pw.weight") to
// the trunk's key ("layer0.4.1.conv_pw.weight"); empty for keys the trunk
// drops (conv_head, bn2, classifier).
std::string TimmKeyToTrunkKey(const std::string& timm_key);
// The inverse: "layer0.4.1.conv_pw.weight" -> "blocks.1.1.conv_pw.weight".
std::string TrunkKeyToTimmKey(const std::string& trunk_key);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_EFFICIENTNET_H_
