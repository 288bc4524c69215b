#include "trainer/projector.h"

#include <torch/nn/functional/upsampling.h>

#include "absl/strings/str_cat.h"

namespace pgan::trainer {

namespace F = torch::nn::functional;

FeatureFusionBlockImpl::FeatureFusionBlockImpl(int64_t features, bool expand) {
  out_conv = register_module(
      "out_conv",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(
                            features, expand ? features / 2 : features, 1)
                            .bias(true)));
}

torch::Tensor FeatureFusionBlockImpl::forward(const torch::Tensor& a,
                                              const torch::Tensor& b) {
  torch::Tensor y = b.defined() ? a + b : a;
  y = F::interpolate(y, F::InterpolateFuncOptions()
                            .scale_factor(std::vector<double>{2.0, 2.0})
                            .mode(torch::kBilinear)
                            .align_corners(true));
  return out_conv(y);
}

ProjectorImpl::ProjectorImpl(const config::ModelConfig& config)
    : proj_type_(config.proj_type) {
  pretrained = register_module("pretrained",
                               EfficientNetTrunk(config.feature_network));
  if (proj_type_ == 0) return;
  scratch = register_module("scratch", std::make_shared<torch::nn::Module>());
  const std::array<int64_t, 4> trunk_channels{24, 40, 112, 320};
  const int64_t c = config.cout;
  const std::array<int64_t, 4> ccm_out =
      config.expand ? std::array<int64_t, 4>{c, 2 * c, 4 * c, 8 * c}
                    : std::array<int64_t, 4>{c, c, c, c};
  for (int k = 0; k < 4; ++k) {
    ccm_[k] = scratch->register_module(
        absl::StrCat("layer", k, "_ccm"),
        torch::nn::Conv2d(
            torch::nn::Conv2dOptions(trunk_channels[k], ccm_out[k], 1).bias(true)));
  }
  if (proj_type_ == 1) return;
  // Top-down, as the reference builds them; the lowest level never expands.
  for (int k = 3; k >= 0; --k) {
    csm_[k] = scratch->register_module(
        absl::StrCat("layer", k, "_csm"),
        FeatureFusionBlock(ccm_out[k], k == 0 ? false : config.expand));
  }
}

std::array<torch::Tensor, 4> ProjectorImpl::forward(const torch::Tensor& x) {
  std::array<torch::Tensor, 4> out = pretrained->forward(x);
  if (proj_type_ == 0) return out;
  for (int k = 0; k < 4; ++k) out[k] = ccm_[k](out[k]);
  if (proj_type_ == 1) return out;
  std::array<torch::Tensor, 4> mixed;
  mixed[3] = csm_[3](out[3]);
  mixed[2] = csm_[2](mixed[3], out[2]);
  mixed[1] = csm_[1](mixed[2], out[1]);
  mixed[0] = csm_[0](mixed[1], out[0]);
  return mixed;
}

}  // namespace pgan::trainer
