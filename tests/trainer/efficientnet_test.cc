#include "trainer/efficientnet.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include "common/safetensors.h"
#include "tests/common/test_dir.h"
#include "trainer/feature_weights.h"
#include "trainer/state_dict.h"
#include "trainer/summary.h"

namespace pgan::trainer {
namespace {

namespace F = torch::nn::functional;
using ::pgan::testing::TestDir;

TEST(EfficientNetTest, SamePaddingPutsTheExtraPixelBottomRight) {
  torch::manual_seed(0);
  const torch::Tensor x = torch::randn({1, 2, 8, 8});
  for (int64_t k : {3, 5}) {
    SameConv2d conv(2, 4, k, /*stride=*/2, /*groups=*/1);
    // total = (4 - 1) * 2 + k - 8: 1 for k = 3 -> (0, 1); 3 for k = 5 -> (1, 2).
    const int64_t total = k - 2;
    const int64_t before = total / 2, after = total - before;
    const torch::Tensor padded =
        F::pad(x, F::PadFuncOptions({before, after, before, after}));
    const torch::Tensor expected =
        F::conv2d(padded, conv->weight, F::Conv2dFuncOptions().stride(2));
    EXPECT_TRUE(torch::allclose(conv(x), expected, 1e-5, 1e-6)) << k;
    EXPECT_EQ(conv(x).sizes(), torch::IntArrayRef({1, 4, 4, 4}));
  }
  // Stride 1 is symmetric.
  SameConv2d conv3(2, 2, 3, 1, 2);
  EXPECT_TRUE(torch::allclose(
      conv3(x), F::conv2d(x, conv3->weight, F::Conv2dFuncOptions().padding(1).groups(2)),
      1e-5, 1e-6));
}

TEST(EfficientNetTest, TrunkParameterCountsMatchThePaper) {
  EXPECT_EQ(CountParameters(*EfficientNetTrunk("tf_efficientnet_lite0")), 2958848);
  EXPECT_EQ(CountParameters(*EfficientNetTrunk("tf_efficientnet_lite1")), 3723520);
}

TEST(EfficientNetTest, StageShapesAt224And256) {
  EfficientNetTrunk trunk("tf_efficientnet_lite0");
  trunk->eval();
  torch::NoGradGuard no_grad;
  const std::array<int64_t, 4> channels{24, 40, 112, 320};
  for (int64_t res : {224, 256}) {
    const auto out = trunk(torch::randn({1, 3, res, res}));
    for (int k = 0; k < 4; ++k) {
      const int64_t side = res / (4 << k);
      EXPECT_EQ(out[k].sizes(), torch::IntArrayRef({1, channels[k], side, side}))
          << res << " stage " << k;
    }
  }
}

TEST(EfficientNetTest, KeyNamesMapBetweenTimmAndTheReference) {
  EXPECT_EQ(TimmKeyToTrunkKey("conv_stem.weight"), "layer0.0.weight");
  EXPECT_EQ(TimmKeyToTrunkKey("bn1.running_var"), "layer0.1.running_var");
  EXPECT_EQ(TimmKeyToTrunkKey("blocks.1.1.conv_pw.weight"), "layer0.4.1.conv_pw.weight");
  EXPECT_EQ(TimmKeyToTrunkKey("blocks.5.3.bn3.bias"), "layer3.0.3.bn3.bias");
  EXPECT_EQ(TimmKeyToTrunkKey("blocks.6.0.conv_pwl.weight"), "layer3.1.0.conv_pwl.weight");
  EXPECT_EQ(TimmKeyToTrunkKey("conv_head.weight"), "");
  EXPECT_EQ(TimmKeyToTrunkKey("bn2.weight"), "");
  EXPECT_EQ(TimmKeyToTrunkKey("classifier.bias"), "");
  EfficientNetTrunk trunk("tf_efficientnet_lite1");
  for (const auto& [key, tensor] : StateDict(*trunk)) {
    EXPECT_EQ(TimmKeyToTrunkKey(TrunkKeyToTimmKey(key)), key);
  }
  const auto params = trunk->named_parameters();
  EXPECT_EQ(params["layer0.3.0.conv_dw.weight"].sizes(), torch::IntArrayRef({32, 1, 3, 3}));
  EXPECT_EQ(params["layer0.4.0.conv_pw.weight"].sizes(), torch::IntArrayRef({96, 16, 1, 1}));
  EXPECT_EQ(params["layer3.0.4.conv_dw.weight"].sizes(), torch::IntArrayRef({1152, 1, 5, 5}));
}

// Writes `trunk` as a timm state dict (plus the head timm files carry).
void WriteTimmFile(const EfficientNetTrunkImpl& trunk, const std::string& path,
                   const std::string& skip = "",
                   const std::string& reshape = "") {
  std::vector<torch::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  for (const auto& [key, tensor] : StateDict(trunk)) {
    const std::string timm = TrunkKeyToTimmKey(key);
    if (timm == skip) continue;
    torch::Tensor t = tensor.detach().contiguous();
    if (timm == reshape) t = torch::zeros({t.numel() + 1});
    keep.push_back(t);
    tensors.push_back({timm, t.scalar_type() == torch::kLong ? DType::kI64 : DType::kF32,
                       t.sizes().vec(), t.data_ptr(),
                       static_cast<size_t>(t.numel() * t.element_size())});
  }
  keep.push_back(torch::randn({1000, 1280}));
  tensors.push_back({"classifier.weight", DType::kF32, {1000, 1280},
                     keep.back().data_ptr(), 1000 * 1280 * 4});
  ASSERT_TRUE(WriteSafetensors(path, tensors, {}).ok());
}

TEST(EfficientNetTest, LoadsTimmNamedWeights) {
  TestDir dir;
  torch::manual_seed(5);
  EfficientNetTrunk source("tf_efficientnet_lite0");
  {
    torch::NoGradGuard no_grad;
    for (auto& b : source->buffers()) {
      if (b.is_floating_point()) b.uniform_(0.5, 1.5);
    }
  }
  WriteTimmFile(*source, dir.file("lite0.safetensors"));
  EfficientNetTrunk target("tf_efficientnet_lite0");
  const absl::Status status =
      LoadFeatureNetworkWeights(*target, dir.file("lite0.safetensors"));
  ASSERT_TRUE(status.ok()) << status;
  // Loading replays the reference's channel probe: the result is the source
  // after the same probe.
  ReplayReferenceChannelProbe(*source);
  const auto a = StateDict(*source), b = StateDict(*target);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

TEST(EfficientNetTest, ChannelProbeMovesRunningStatisticsTenPercent) {
  EfficientNetTrunk trunk("tf_efficientnet_lite0");
  trunk->eval();
  const torch::Tensor mean_before =
      trunk->named_buffers()["layer0.1.running_mean"].clone();
  const torch::Tensor var_before =
      trunk->named_buffers()["layer0.1.running_var"].clone();
  ReplayReferenceChannelProbe(*trunk);
  EXPECT_FALSE(trunk->is_training());
  // The stem sees a zero image and has no bias: batch mean 0, variance 0.
  EXPECT_TRUE(torch::allclose(trunk->named_buffers()["layer0.1.running_mean"],
                              mean_before * 0.9));
  EXPECT_TRUE(torch::allclose(trunk->named_buffers()["layer0.1.running_var"],
                              var_before * 0.9));
  EXPECT_EQ(trunk->named_buffers()["layer0.1.num_batches_tracked"].item<int64_t>(), 1);
}

TEST(EfficientNetTest, TimmWeightErrorsNameTheKey) {
  TestDir dir;
  EfficientNetTrunk lite0("tf_efficientnet_lite0");
  EfficientNetTrunk lite1("tf_efficientnet_lite1");

  WriteTimmFile(*lite0, dir.file("missing.safetensors"), "blocks.2.1.bn2.weight");
  absl::Status status =
      LoadFeatureNetworkWeights(*lite0, dir.file("missing.safetensors"));
  EXPECT_NE(status.message().find("missing key \"blocks.2.1.bn2.weight\""),
            std::string::npos)
      << status;

  WriteTimmFile(*lite0, dir.file("shape.safetensors"), "", "blocks.3.0.conv_dw.weight");
  status = LoadFeatureNetworkWeights(*lite0, dir.file("shape.safetensors"));
  EXPECT_NE(status.message().find("blocks.3.0.conv_dw.weight"), std::string::npos)
      << status;
  EXPECT_NE(status.message().find("shape"), std::string::npos) << status;

  WriteTimmFile(*lite1, dir.file("lite1.safetensors"));
  status = LoadFeatureNetworkWeights(*lite0, dir.file("lite1.safetensors"));
  EXPECT_NE(status.message().find("unexpected key"), std::string::npos) << status;
}

}  // namespace
}  // namespace pgan::trainer
