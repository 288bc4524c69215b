#include "trainer/loss.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

namespace pgan::trainer {
namespace {

TEST(LossTest, HingeAndGeneratorLossesOnHandComputedLogits) {
  const torch::Tensor logits = torch::tensor({{2.0f, -0.5f}, {0.25f, -3.0f}});
  // relu(1 - l) = 0, 1.5, 0.75, 4 -> 1.5625.
  EXPECT_FLOAT_EQ(DiscriminatorRealLoss(logits).item<float>(), 1.5625f);
  // relu(1 + l) = 3, 0.5, 1.25, 0 -> 1.1875.
  EXPECT_FLOAT_EQ(DiscriminatorFakeLoss(logits).item<float>(), 1.1875f);
  // -mean(l) = -(-1.25 / 4).
  EXPECT_FLOAT_EQ(GeneratorLoss(logits).item<float>(), 0.3125f);
}

TEST(LossTest, GradientsAreThoseOfTheFormulas) {
  torch::Tensor logits = torch::tensor({{2.0f, -0.5f}}).requires_grad_(true);
  DiscriminatorRealLoss(logits).backward();
  // d/dl mean(relu(1 - l)) = -1/N where 1 - l > 0, else 0.
  EXPECT_TRUE(torch::allclose(logits.grad(), torch::tensor({{0.0f, -0.5f}})));
  logits.mutable_grad().zero_();
  GeneratorLoss(logits).backward();
  EXPECT_TRUE(torch::allclose(logits.grad(), torch::tensor({{-0.5f, -0.5f}})));
}

}  // namespace
}  // namespace pgan::trainer
