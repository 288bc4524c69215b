#include "trainer/generator.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include "trainer/summary.h"

namespace pgan::trainer {
namespace {

config::ModelConfig Config(const std::string& cfg, int res, int ngf = 128, int c_dim = 0) {
  config::ModelConfig config;
  config.cfg = cfg;
  config.resolution = res;
  config.ngf = ngf;
  config.c_dim = c_dim;
  return config;
}

// A fresh generator in eval mode divides by a sigma from random u, v; a few
// training forwards make it behave as a trained one would.
void WarmUpThenEval(Generator& g) {
  torch::NoGradGuard no_grad;
  g->train();
  for (int i = 0; i < 5; ++i) g(torch::randn({4, g->config().z_dim}));
  g->eval();
}

// The reference's counts (shared/reference/projected-gan.md, section 1.5).
struct CountCase {
  const char* cfg;
  int resolution;
  int64_t params;
};

void PrintTo(const CountCase& c, std::ostream* os) {
  *os << c.cfg << " " << c.resolution;
}

class GeneratorCountTest : public ::testing::TestWithParam<CountCase> {};

TEST_P(GeneratorCountTest, ParameterCountMatchesTheReference) {
  const CountCase& c = GetParam();
  Generator g(Config(c.cfg, c.resolution));
  EXPECT_EQ(CountParameters(*g), c.params);
}

INSTANTIATE_TEST_SUITE_P(
    Reference, GeneratorCountTest,
    ::testing::Values(CountCase{"fastgan", 128, 105685903},
                      CountCase{"fastgan", 256, 105684175},
                      CountCase{"fastgan", 512, 105870961},
                      CountCase{"fastgan", 1024, 105884483},
                      CountCase{"fastgan_lite", 128, 79356035},
                      CountCase{"fastgan_lite", 256, 79354307},
                      CountCase{"fastgan_lite", 512, 79522531},
                      CountCase{"fastgan_lite", 1024, 79531379}),
    [](const ::testing::TestParamInfo<CountCase>& info) {
      return std::string(info.param.cfg == std::string("fastgan") ? "Fastgan"
                                                                  : "FastganLite") +
             std::to_string(info.param.resolution);
    });

TEST(GeneratorTest, ConditionalParameterCountMatchesTheReference) {
  Generator g(Config("fastgan", 256, 128, /*c_dim=*/10));
  EXPECT_EQ(CountParameters(*g), 110527689);
}

TEST(GeneratorTest, StateDictKeysAreTheReferences) {
  Generator g(Config("fastgan", 256, 16));
  auto params = g->named_parameters();
  auto buffers = g->named_buffers();
  EXPECT_EQ(params["synthesis.init.init.0.weight_orig"].sizes(),
            torch::IntArrayRef({256, 512, 4, 4}));
  EXPECT_EQ(buffers["synthesis.init.init.0.weight_u"].sizes(),
            torch::IntArrayRef({512}));
  EXPECT_TRUE(buffers.contains("synthesis.init.init.1.num_batches_tracked"));
  EXPECT_EQ(params["synthesis.feat_8.1.weight_orig"].sizes(),
            torch::IntArrayRef({256, 256, 3, 3}));
  EXPECT_EQ(params["synthesis.feat_8.2.weight"].sizes(), torch::IntArrayRef({1}));
  EXPECT_TRUE(params.contains("synthesis.feat_8.3.weight"));
  EXPECT_TRUE(params.contains("synthesis.feat_8.5.weight_orig"));
  EXPECT_TRUE(params.contains("synthesis.feat_8.6.weight"));
  EXPECT_EQ(params["synthesis.se_64.main.1.weight_orig"].sizes(),
            torch::IntArrayRef({32, 256, 4, 4}));
  EXPECT_EQ(params["synthesis.se_64.main.3.weight_orig"].sizes(),
            torch::IntArrayRef({32, 32, 1, 1}));
  EXPECT_EQ(params["synthesis.to_big.bias"].sizes(), torch::IntArrayRef({3}));
  EXPECT_TRUE(params.contains("synthesis.feat_256.1.weight_orig"));
  EXPECT_FALSE(params.contains("synthesis.feat_512.1.weight_orig"));

  Generator cond(Config("fastgan", 128, 16, 5));
  auto cp = cond->named_parameters();
  auto cb = cond->named_buffers();
  EXPECT_EQ(cp["synthesis.embed.weight"].sizes(), torch::IntArrayRef({1000, 256}));
  EXPECT_TRUE(cp.contains("synthesis.feat_8.conv1.weight_orig"));
  EXPECT_TRUE(cp.contains("synthesis.feat_8.bn1.gain.weight_orig"));
  EXPECT_TRUE(cp.contains("synthesis.feat_8.bn2.bias.bias"));
  EXPECT_TRUE(cp.contains("synthesis.feat_8.noise.weight"));
  EXPECT_TRUE(cb.contains("synthesis.feat_8.bn1.stored_mean"));
  Generator lite(Config("fastgan_lite", 128, 16, 5));
  EXPECT_TRUE(lite->named_parameters().contains("synthesis.feat_8.bn.gain.bias"));
}

TEST(GeneratorTest, OutputsImagesAtEveryResolutionIncludingTheExtension) {
  for (int res : {32, 64, 128}) {
    for (const char* cfg : {"fastgan", "fastgan_lite"}) {
      Generator g(Config(cfg, res, 8));
      const torch::Tensor img = g(torch::randn({2, 256}));
      EXPECT_EQ(img.sizes(), torch::IntArrayRef({2, 3, res, res})) << cfg << res;
    }
  }
  Generator cond(Config("fastgan_lite", 32, 8, 3));
  const torch::Tensor c = torch::eye(3).narrow(0, 0, 2);
  EXPECT_EQ(cond(torch::randn({2, 256}), c).sizes(),
            torch::IntArrayRef({2, 3, 32, 32}));
}

TEST(GeneratorTest, HasNoOutputNonLinearity) {
  Generator g(Config("fastgan_lite", 32, 8));
  WarmUpThenEval(g);
  torch::NoGradGuard no_grad;
  g->synthesis->named_parameters()["to_big.bias"].fill_(5.0);
  EXPECT_GT(g(torch::randn({1, 256})).min().item<float>(), 1.0f);
}

TEST(GeneratorTest, NoiseIsPerSampleAndIndependentOfTheBatch) {
  Generator g(Config("fastgan", 32, 8));
  WarmUpThenEval(g);
  torch::NoGradGuard no_grad;
  for (auto& item : g->named_parameters()) {
    if (item.key().find(".2.weight") != std::string::npos ||
        item.key().find(".6.weight") != std::string::npos) {
      item.value().fill_(1.0);
    }
  }
  const torch::Tensor z = torch::randn({2, 256});
  SampleRandom pair({7, 8});
  SampleRandom second({8});
  const torch::Tensor both = g(z, torch::Tensor(), &pair);
  const torch::Tensor alone = g(z.narrow(0, 1, 1), torch::Tensor(), &second);
  EXPECT_TRUE(torch::allclose(both[1], alone[0], 1e-5, 1e-5));

  SampleRandom other({7, 9});
  EXPECT_FALSE(torch::allclose(both[1], g(z, torch::Tensor(), &other)[1]));

  g->set_noise_mode(NoiseMode::kNone);
  EXPECT_TRUE(torch::equal(g(z), g(z)));
}

TEST(GeneratorTest, LatentsAreNormalisedToTheSphere) {
  Generator g(Config("fastgan_lite", 32, 8));
  WarmUpThenEval(g);
  torch::NoGradGuard no_grad;
  const torch::Tensor z = torch::randn({1, 256});
  EXPECT_TRUE(torch::allclose(g(z), g(z * 3.0), 1e-4, 1e-5));
}

}  // namespace
}  // namespace pgan::trainer
