#include "trainer/spectral_norm.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

namespace pgan::trainer {
namespace {

namespace F = torch::nn::functional;

torch::Tensor Normalized(const torch::Tensor& x) { return x / x.norm().clamp_min(1e-12); }

TEST(SpectralNormTest, RegistersReferenceNamesAndShapes) {
  SNConv2d conv(SNConvOptions(3, 8, 4).stride(2).padding(1));
  auto params = conv->named_parameters();
  auto buffers = conv->named_buffers();
  ASSERT_TRUE(params.contains("weight_orig"));
  ASSERT_TRUE(params.contains("bias"));
  EXPECT_FALSE(params.contains("weight"));
  EXPECT_EQ(params["weight_orig"].sizes(), torch::IntArrayRef({8, 3, 4, 4}));
  EXPECT_EQ(buffers["weight_u"].sizes(), torch::IntArrayRef({8}));
  EXPECT_EQ(buffers["weight_v"].sizes(), torch::IntArrayRef({48}));
  EXPECT_NEAR(buffers["weight_u"].norm().item<float>(), 1.0f, 1e-5);

  // ConvTranspose2d normalises along dim 1: u has the output channels.
  SNConvTranspose2d deconv(SNConvOptions(16, 32, 4).bias(false));
  EXPECT_EQ(deconv->weight_orig.sizes(), torch::IntArrayRef({16, 32, 4, 4}));
  EXPECT_EQ(deconv->weight_u.sizes(), torch::IntArrayRef({32}));
  EXPECT_EQ(deconv->weight_v.sizes(), torch::IntArrayRef({256}));
  EXPECT_FALSE(deconv->named_parameters().contains("bias"));
}

TEST(SpectralNormTest, TrainingForwardDoesOnePowerIterationThenDividesBySigma) {
  torch::manual_seed(0);
  SNLinear linear(5, 4, /*bias=*/true);
  const torch::Tensor w = linear->weight_orig.detach().clone();
  const torch::Tensor u0 = linear->weight_u.clone();
  const torch::Tensor v = Normalized(torch::mv(w.t(), u0));
  const torch::Tensor u = Normalized(torch::mv(w, v));
  const torch::Tensor sigma = torch::dot(u, torch::mv(w, v));
  const torch::Tensor x = torch::randn({3, 5});
  const torch::Tensor expected = F::linear(x, w / sigma, linear->bias.detach());

  linear->train();
  const torch::Tensor y = linear(x);
  EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(linear->weight_u, u));
  EXPECT_TRUE(torch::allclose(linear->weight_v, v));
}

TEST(SpectralNormTest, EvalForwardUsesStoredVectorsWithoutUpdating) {
  torch::manual_seed(1);
  SNConv2d conv(SNConvOptions(2, 3, 3).padding(1).bias(false));
  conv->eval();
  const torch::Tensor u = conv->weight_u.clone(), v = conv->weight_v.clone();
  const torch::Tensor w = conv->weight_orig.detach().reshape({3, -1});
  const torch::Tensor sigma = torch::dot(u, torch::mv(w, v));
  const torch::Tensor x = torch::randn({1, 2, 5, 5});
  const torch::Tensor expected = F::conv2d(
      x, conv->weight_orig.detach() / sigma, F::Conv2dFuncOptions().padding(1));
  EXPECT_TRUE(torch::allclose(conv(x), expected, 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(conv->weight_u, u));
  EXPECT_TRUE(torch::equal(conv->weight_v, v));
}

TEST(SpectralNormTest, RepeatedTrainingForwardsConvergeToTheLargestSingularValue) {
  torch::manual_seed(2);
  SNLinear linear(6, 6, /*bias=*/false);
  linear->train();
  const torch::Tensor x = torch::eye(6);
  for (int i = 0; i < 200; ++i) linear(x);
  // With converged u, v the normalised weight has spectral norm 1.
  const torch::Tensor w = linear(x).t();
  const torch::Tensor s = std::get<1>(torch::svd(w));
  EXPECT_NEAR(s[0].item<float>(), 1.0f, 1e-3);
}

TEST(SpectralNormTest, GradientReachesWeightOrigButNotTheVectors) {
  SNConv2d conv(SNConvOptions(2, 2, 1));
  conv->train();
  conv(torch::randn({1, 2, 3, 3})).sum().backward();
  ASSERT_TRUE(conv->weight_orig.grad().defined());
  EXPECT_GT(conv->weight_orig.grad().abs().sum().item<float>(), 0);
  EXPECT_FALSE(conv->weight_u.requires_grad());
}

}  // namespace
}  // namespace pgan::trainer

#include "trainer/layers.h"
#include "trainer/upsample_conv.h"

namespace pgan::trainer {
namespace {

TEST(UpsampleConvTest, MatchesTheSeparateOpsBitForBit) {
  torch::manual_seed(3);
  torch::Tensor x1 = torch::randn({2, 3, 5, 6}).requires_grad_(true);
  torch::Tensor w1 = torch::randn({4, 3, 3, 3}).requires_grad_(true);
  torch::Tensor x2 = x1.detach().clone().requires_grad_(true);
  torch::Tensor w2 = w1.detach().clone().requires_grad_(true);
  // Warm up: the first oneDNN weight gradient of a process may sum in
  // another order than later ones (see SetIntraOpThreads).
  torch::conv2d(Upsample2x(x1), w1, {}, {1, 1}, {1, 1}).sum().backward();
  x1.mutable_grad() = torch::Tensor();
  w1.mutable_grad() = torch::Tensor();
  const torch::Tensor fused = UpsampleConv2d(x1, w1, /*padding=*/1);
  const torch::Tensor separate =
      torch::conv2d(Upsample2x(x2), w2, {}, {1, 1}, {1, 1});
  ASSERT_EQ(fused.sizes(), torch::IntArrayRef({2, 4, 10, 12}));
  EXPECT_TRUE(torch::equal(fused, separate));
  const torch::Tensor grad = torch::randn_like(fused);
  fused.backward(grad);
  separate.backward(grad);
  EXPECT_TRUE(torch::equal(x1.grad(), x2.grad()));
  EXPECT_TRUE(torch::equal(w1.grad(), w2.grad()));
}

}  // namespace
}  // namespace pgan::trainer

namespace pgan::trainer {
namespace {

TEST(GluTest, MatchesTheSeparateOps) {
  torch::manual_seed(4);
  torch::Tensor x1 = torch::randn({2, 6, 3, 3}).requires_grad_(true);
  torch::Tensor x2 = x1.detach().clone().requires_grad_(true);
  const torch::Tensor fused = Glu(x1);
  const torch::Tensor separate = x2.narrow(1, 0, 3) * torch::sigmoid(x2.narrow(1, 3, 3));
  EXPECT_TRUE(torch::equal(fused, separate));
  const torch::Tensor grad = torch::randn_like(fused);
  fused.backward(grad);
  separate.backward(grad);
  // torch::equal treats -0 and +0 alike, the only difference possible.
  EXPECT_TRUE(torch::equal(x1.grad(), x2.grad()));
}

}  // namespace
}  // namespace pgan::trainer
