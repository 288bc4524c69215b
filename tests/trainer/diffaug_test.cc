#include "trainer/diffaug.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

namespace pgan::trainer {
namespace {

// Parameters that leave colour unchanged, no translation, and a cutout
// centred at (cx, cy).
DiffAugmentParams Neutral(int64_t batch, int64_t cx, int64_t cy) {
  DiffAugmentParams p;
  p.brightness = torch::full({batch, 1, 1, 1}, 0.5f);
  p.saturation = torch::full({batch, 1, 1, 1}, 0.5f);
  p.contrast = torch::full({batch, 1, 1, 1}, 0.5f);
  p.translation_x = torch::zeros({batch, 1, 1}, torch::kInt64);
  p.translation_y = torch::zeros({batch, 1, 1}, torch::kInt64);
  p.cutout_x = torch::full({batch, 1, 1}, cx, torch::kInt64);
  p.cutout_y = torch::full({batch, 1, 1}, cy, torch::kInt64);
  return p;
}

TEST(DiffAugmentTest, SizesFollowTheReferenceRatios) {
  EXPECT_EQ(TranslationShift(256), 32);
  EXPECT_EQ(CutoutSize(256), 51);
  EXPECT_EQ(TranslationShift(128), 16);
  EXPECT_EQ(CutoutSize(128), 26);
  EXPECT_EQ(CutoutSize(1024), 205);
}

TEST(DiffAugmentTest, CutoutZeroesTheClippedSquare) {
  // 10 px: L = 2; centre (0, 5) covers rows [-1, 1) and cols [4, 6).
  const torch::Tensor x = torch::ones({1, 3, 10, 10});
  const torch::Tensor y = DiffAugment(x, Neutral(1, 0, 5));
  torch::Tensor expected = torch::ones({1, 3, 10, 10});
  expected.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), 0,
                       torch::indexing::Slice(4, 6)},
                      0);
  EXPECT_TRUE(torch::allclose(y, expected));
}

TEST(DiffAugmentTest, TranslationShiftsWithZeroFill) {
  const torch::Tensor x =
      torch::arange(1, 17, torch::kFloat).view({1, 1, 4, 4}).repeat({1, 3, 1, 1});
  DiffAugmentParams p = Neutral(1, -100, -100);  // Cutout off the image.
  p.translation_x.fill_(1);   // out[i] = x[i + 1]
  p.translation_y.fill_(-1);  // out[:, j] = x[:, j - 1]
  const torch::Tensor y = DiffAugment(x, p)[0][0];
  const torch::Tensor expected = torch::tensor({{0.f, 5.f, 6.f, 7.f},
                                                {0.f, 9.f, 10.f, 11.f},
                                                {0.f, 13.f, 14.f, 15.f},
                                                {0.f, 0.f, 0.f, 0.f}});
  EXPECT_TRUE(torch::allclose(y, expected)) << y;
}

TEST(DiffAugmentTest, ColourOpsUseTheReferenceFormulas) {
  torch::manual_seed(0);
  const torch::Tensor x = torch::rand({2, 3, 4, 4}) * 2 - 1;
  DiffAugmentParams p = Neutral(2, -100, -100);
  p.brightness = torch::tensor({0.75f, 0.25f}).view({2, 1, 1, 1});
  p.saturation = torch::tensor({0.0f, 0.5f}).view({2, 1, 1, 1});
  p.contrast = torch::tensor({1.0f, 0.5f}).view({2, 1, 1, 1});
  const torch::Tensor y = DiffAugment(x, p);
  // Sample 0: +0.25, then grey (saturation 0), then contrast x1.5.
  torch::Tensor e0 = x[0] + 0.25;
  e0 = e0.mean(0, true).expand_as(e0);
  e0 = (e0 - e0.mean()) * 1.5 + e0.mean();
  // Sample 1: -0.25 only.
  const torch::Tensor e1 = x[1] - 0.25;
  EXPECT_TRUE(torch::allclose(y[0], e0, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(y[1], e1, 1e-5, 1e-6));
}

TEST(DiffAugmentTest, SampledParametersStayInTheirRanges) {
  torch::manual_seed(3);
  const DiffAugmentParams p =
      SampleDiffAugmentParams(4000, 128, 128, torch::kFloat, nullptr);
  EXPECT_GE(p.brightness.min().item<float>(), 0.0f);
  EXPECT_LT(p.brightness.max().item<float>(), 1.0f);
  EXPECT_EQ(p.translation_x.min().item<int64_t>(), -16);
  EXPECT_EQ(p.translation_x.max().item<int64_t>(), 16);
  EXPECT_EQ(p.cutout_y.min().item<int64_t>(), 0);
  EXPECT_EQ(p.cutout_y.max().item<int64_t>(), 128);  // Even L: far edge included.
  EXPECT_NEAR(p.saturation.mean().item<float>(), 0.5f, 0.02f);
}

TEST(DiffAugmentTest, PerSampleParametersDoNotDependOnTheBatch) {
  SampleRandom pair({11, 22});
  SampleRandom single({22});
  const DiffAugmentParams a = SampleDiffAugmentParams(2, 64, 64, torch::kFloat, &pair);
  const DiffAugmentParams b = SampleDiffAugmentParams(1, 64, 64, torch::kFloat, &single);
  EXPECT_TRUE(torch::equal(a.brightness[1], b.brightness[0]));
  EXPECT_TRUE(torch::equal(a.translation_y[1], b.translation_y[0]));
  EXPECT_TRUE(torch::equal(a.cutout_x[1], b.cutout_x[0]));
  EXPECT_FALSE(torch::equal(a.brightness[0], a.brightness[1]));
}

TEST(DiffAugmentTest, GradientFlowsToTheImages) {
  torch::manual_seed(4);
  torch::Tensor x = torch::randn({2, 3, 16, 16}).requires_grad_(true);
  const DiffAugmentParams p = SampleDiffAugmentParams(2, 16, 16, torch::kFloat, nullptr);
  DiffAugment(x, p).square().sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_GT(x.grad().abs().sum().item<float>(), 0.0f);
}

}  // namespace
}  // namespace pgan::trainer
