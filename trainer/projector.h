// The reference's F_RandomProj ("feature_network" inside D): the frozen
// EfficientNet trunk ("pretrained") followed by random, frozen 1x1
// convolutions ("scratch"): cross-channel mixing (CCM, layerK_ccm) and
// cross-scale mixing (CSM, layerK_csm: add, bilinear x2 with
// align_corners=true, 1x1 conv). Not thread-safe.
#ifndef PGAN_TRAINER_PROJECTOR_H_
#define PGAN_TRAINER_PROJECTOR_H_

#include <array>

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "trainer/efficientnet.h"
#include "trainer/model_geometry.h"

namespace pgan::trainer {

// One CSM step: y = a (+ b) -> bilinear x2 (align_corners) -> out_conv.
class FeatureFusionBlockImpl : public torch::nn::Module {
 public:
  FeatureFusionBlockImpl(int64_t features, bool expand);
  torch::Tensor forward(const torch::Tensor& a, const torch::Tensor& b = {});

  torch::nn::Conv2d out_conv{nullptr};
};
TORCH_MODULE(FeatureFusionBlock);

class ProjectorImpl : public torch::nn::Module {
 public:
  explicit ProjectorImpl(const config::ModelConfig& config);

  // Feature maps for the four discriminators (see ComputeProjectorGeometry).
  std::array<torch::Tensor, 4> forward(const torch::Tensor& x);

  EfficientNetTrunk pretrained{nullptr};
  // Holds layer{0..3}_ccm and layer{0..3}_csm; null for proj_type 0.
  std::shared_ptr<torch::nn::Module> scratch;

 private:
  int proj_type_;
  std::array<torch::nn::Conv2d, 4> ccm_{nullptr, nullptr, nullptr, nullptr};
  std::array<FeatureFusionBlock, 4> csm_{nullptr, nullptr, nullptr, nullptr};
};
TORCH_MODULE(Projector);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_PROJECTOR_H_
