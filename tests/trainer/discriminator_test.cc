#include "trainer/discriminator.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include "trainer/state_dict.h"
#include "trainer/summary.h"

namespace pgan::trainer {
namespace {

config::ModelConfig Config(int res, int c_dim = 0) {
  config::ModelConfig config;
  config.resolution = res;
  config.c_dim = c_dim;
  return config;
}

TEST(DiscriminatorTest, ParameterCountsMatchTheReference) {
  ProjectedDiscriminator d(Config(256));
  EXPECT_EQ(CountParameters(*d->discriminator), 10331328);
  EXPECT_EQ(CountParameters(*d->feature_network->scratch), 376768);
  EXPECT_EQ(CountParameters(*d->feature_network->pretrained), 2958848);
  // The reference's D state dict has 406 entries.
  EXPECT_EQ(StateDict(*d).size(), 406u);
  ProjectedDiscriminator cond(Config(256, /*c_dim=*/10));
  EXPECT_EQ(CountParameters(*cond->discriminator), 12940736);
}

TEST(DiscriminatorTest, StateDictKeysAreTheReferences) {
  ProjectedDiscriminator d(Config(128));
  const auto params = d->named_parameters();
  const auto buffers = d->named_buffers();
  EXPECT_EQ(params["discriminator.mini_discs.0.main.0.main.0.weight_orig"].sizes(),
            torch::IntArrayRef({64, 64, 4, 4}));
  EXPECT_TRUE(params.contains("discriminator.mini_discs.0.main.0.main.0.bias"));
  EXPECT_TRUE(params.contains("discriminator.mini_discs.0.main.0.main.1.weight"));
  EXPECT_EQ(params["discriminator.mini_discs.0.main.4.weight_orig"].sizes(),
            torch::IntArrayRef({1, 512, 4, 4}));
  EXPECT_EQ(params["discriminator.mini_discs.3.main.0.main.0.weight_orig"].sizes(),
            torch::IntArrayRef({512, 256, 4, 4}));
  EXPECT_EQ(params["feature_network.pretrained.layer0.0.weight"].sizes(),
            torch::IntArrayRef({32, 3, 3, 3}));
  EXPECT_TRUE(buffers.contains("feature_network.pretrained.layer0.1.running_mean"));
  EXPECT_EQ(params["feature_network.scratch.layer3_ccm.weight"].sizes(),
            torch::IntArrayRef({512, 320, 1, 1}));
  EXPECT_EQ(params["feature_network.scratch.layer0_csm.out_conv.weight"].sizes(),
            torch::IntArrayRef({64, 64, 1, 1}));
  EXPECT_EQ(params["feature_network.scratch.layer3_csm.out_conv.weight"].sizes(),
            torch::IntArrayRef({256, 512, 1, 1}));

  ProjectedDiscriminator cond(Config(128, 4));
  const auto cp = cond->named_parameters();
  EXPECT_TRUE(cp.contains("discriminator.mini_discs.1.cls.weight_orig"));
  EXPECT_EQ(cp["discriminator.mini_discs.1.embed.weight"].sizes(),
            torch::IntArrayRef({1000, 128}));
  EXPECT_EQ(cp["discriminator.mini_discs.1.embed_proj.0.weight"].sizes(),
            torch::IntArrayRef({64, 128}));
}

TEST(DiscriminatorTest, LogitsPerImageAt32And256) {
  for (int res : {32, 256}) {
    ProjectedDiscriminator d(Config(res));
    torch::NoGradGuard no_grad;
    const torch::Tensor logits =
        d(torch::randn({2, 3, res, res}), torch::Tensor(), /*augment=*/nullptr);
    EXPECT_EQ(logits.sizes(),
              torch::IntArrayRef({2, LogitsPerImage(Config(res))}));
  }
}

TEST(DiscriminatorTest, FeatureNetworkIsFrozenAndAlwaysInEval) {
  ProjectedDiscriminator d(Config(64));
  d->train(true);
  EXPECT_TRUE(d->discriminator->is_training());
  EXPECT_FALSE(d->feature_network->is_training());
  EXPECT_FALSE(d->feature_network->pretrained->layer0->is_training());
  for (const auto& p : d->feature_network->parameters()) {
    EXPECT_FALSE(p.requires_grad());
  }
  for (const auto& p : d->trainable_parameters()) EXPECT_TRUE(p.requires_grad());
  // Running statistics of the trunk never move.
  const torch::Tensor before =
      d->feature_network->pretrained->named_buffers()["layer0.1.running_mean"].clone();
  d(torch::randn({2, 3, 64, 64}), torch::Tensor(), nullptr);
  EXPECT_TRUE(torch::equal(
      before, d->feature_network->pretrained->named_buffers()["layer0.1.running_mean"]));
}

TEST(DiscriminatorTest, GradientsReachTheImageThroughAugmentAndFeatures) {
  ProjectedDiscriminator d(Config(32));
  torch::Tensor x = torch::randn({2, 3, 32, 32}).requires_grad_(true);
  const DiffAugmentParams aug =
      SampleDiffAugmentParams(2, 32, 32, torch::kFloat, nullptr);
  d(x, torch::Tensor(), &aug).mean().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_GT(x.grad().abs().sum().item<float>(), 0.0f);
  for (const auto& p : d->feature_network->parameters()) {
    EXPECT_FALSE(p.grad().defined());
  }
}

TEST(DiscriminatorTest, ConditionalDiscriminatorUsesTheLabels) {
  ProjectedDiscriminator d(Config(32, 3));
  d->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({1, 3, 32, 32});
  const torch::Tensor a = d(x, torch::tensor({{1.f, 0.f, 0.f}}), nullptr);
  const torch::Tensor b = d(x, torch::tensor({{0.f, 1.f, 0.f}}), nullptr);
  EXPECT_EQ(a.sizes(), torch::IntArrayRef({1, 64}));
  EXPECT_FALSE(torch::allclose(a, b));
}

}  // namespace
}  // namespace pgan::trainer
