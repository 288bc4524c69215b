// trainer/precision.h's pieces: the autocast scope, the channels-last
// conversion, and the loader's pinned memory on a machine without CUDA.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "trainer/data_loader.h"
#include "trainer/upsample_conv.h"
#include "trainer/precision.h"

namespace pgan::trainer {
namespace {

torch::Tensor Conv(const torch::Tensor& x, const torch::Tensor& w) {
  return torch::conv2d(x, w);
}

TEST(PrecisionUnitTest, AutocastScopeRunsConvolutionsInBf16AndRestores) {
  const torch::Tensor x = torch::randn({1, 2, 5, 5});
  const torch::Tensor w = torch::randn({3, 2, 3, 3});
  EXPECT_EQ(Conv(x, w).scalar_type(), torch::kFloat);
  {
    const AutocastScope off(c10::kCPU, Amp::kOff);
    EXPECT_EQ(Conv(x, w).scalar_type(), torch::kFloat);
  }
  {
    const AutocastScope outer(c10::kCPU, Amp::kBf16);
    EXPECT_EQ(Conv(x, w).scalar_type(), torch::kBFloat16);
    {
      const AutocastScope inner(c10::kCPU, Amp::kBf16);
      EXPECT_EQ(Conv(x, w).scalar_type(), torch::kBFloat16);
    }
    // The inner scope leaves the outer one on.
    EXPECT_EQ(Conv(x, w).scalar_type(), torch::kBFloat16);
    // Elementwise ops keep their inputs' type.
    EXPECT_EQ((x * 2).scalar_type(), torch::kFloat);
  }
  EXPECT_EQ(Conv(x, w).scalar_type(), torch::kFloat);
}

// A custom autograd function runs below autocast's dispatch (LibTorch 2.x
// does not cast inside it): its operands are cast before it, and the fp32
// weight still gets an fp32 gradient.
TEST(PrecisionUnitTest, TheUpsamplingConvolutionRunsUnderAutocast) {
  const torch::Tensor x = torch::randn({1, 2, 4, 4});
  const torch::Tensor w = torch::randn({3, 2, 3, 3}).requires_grad_(true);
  torch::Tensor y;
  {
    const AutocastScope autocast(c10::kCPU, Amp::kBf16);
    y = UpsampleConv2d(x, w, /*padding=*/1);
  }
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(y.sizes(), torch::IntArrayRef({1, 3, 8, 8}));
  y.to(torch::kFloat).sum().backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().scalar_type(), torch::kFloat);
  EXPECT_EQ(UpsampleConv2d(x, w, 1).scalar_type(), torch::kFloat);
}

TEST(PrecisionUnitTest, ParseAmpNamesTheOption) {
  EXPECT_EQ(*ParseAmp("off"), Amp::kOff);
  EXPECT_EQ(*ParseAmp("bf16"), Amp::kBf16);
  const auto bad = ParseAmp("fp16");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--amp \"fp16\""), std::string::npos)
      << bad.status();
}

TEST(PrecisionUnitTest, ToChannelsLastKeepsTheTensorsAnOptimiserHolds) {
  torch::nn::Sequential net(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 4, 3)),
      torch::nn::Linear(4, 2));
  const std::vector<torch::Tensor> before = net->parameters();
  std::vector<torch::Tensor> values;
  for (const torch::Tensor& p : before) values.push_back(p.detach().clone());
  ToChannelsLast(*net);
  const std::vector<torch::Tensor> after = net->parameters();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    // The same tensor (what an optimiser built earlier holds), same values.
    EXPECT_EQ(before[i].unsafeGetTensorImpl(), after[i].unsafeGetTensorImpl());
    EXPECT_TRUE(torch::equal(before[i], values[i]));
  }
  const torch::Tensor& weight = after[0];
  EXPECT_FALSE(weight.is_contiguous());
  EXPECT_TRUE(weight.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(after[2].is_contiguous());  // 2-D: unchanged.
}

TEST(PrecisionUnitTest, PinnedBatchesNeedCuda) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  DataLoaderOptions options;
  options.pin_memory = true;
  const absl::Status status = options.Validate();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("pin_memory"), std::string::npos) << status;
}

}  // namespace
}  // namespace pgan::trainer
