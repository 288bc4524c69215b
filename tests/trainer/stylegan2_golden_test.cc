// Golden test of Projected StyleGAN2 against the reference implementation
// (projected_gan e1c246b, networks_stylegan2.py with the pure-PyTorch ops
// the reference runs on a CPU): testdata/stylegan2_golden.json, written by
// tools/make_stylegan2_golden.py, holds the reference's outputs for
// deterministic weights and inputs, rebuilt here from the same formulas.
//
// The generator casts its inputs to float32 as the reference does, so these
// cases run in float32 only, with the element-wise tolerance of
// reference_golden_test.cc (|a - e| <= 1e-5 + 1e-4 |e|) and no rounding
// allowance. On the machine that made the data (Debian's LibTorch 1.13.1,
// the library the reference ran on) every value is bit-identical.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/training_config.h"
#include "tests/trainer/golden_util.h"
#include "trainer/discriminator.h"
#include "trainer/generator.h"
#include "trainer/network_file.h"
#include "trainer/summary.h"

namespace pgan::trainer {
namespace {

namespace F = torch::nn::functional;
using golden::Buffer;
using golden::ExpectMatches;
using golden::Images;
using golden::Latents;
using golden::OneHot;
using nlohmann::json;

const json& Golden() { return golden::Load("stylegan2_golden.json"); }

const json& Case(const std::string& name) {
  return Golden().at("cases").at(name);
}

template <typename Holder>
Holder Build(const json& test_case) {
  const json& network =
      Golden().at("networks").at(test_case.at("network").get<std::string>());
  return golden::Build<Holder>(network,
                               Golden().at("sn_iterations").get<int>());
}

torch::Tensor Z(const json& test_case, const Generator& g) {
  return Latents(test_case.at("z").get<std::string>(), 2, g->config().z_dim);
}

// Eval mode: per-sample grouped ("fused") convolutions, as the reference's
// G_ema with fused_modconv_default 'inference_only'.
TEST(Stylegan2GoldenTest, EvalConstNoiseAndTheMappedWs) {
  const json& c = Case("Stylegan2EvalConst");
  Generator g = Build<Generator>(c);
  ASSERT_FALSE(HasFatalFailure());
  g->eval();
  g->set_noise_mode(NoiseMode::kConst);
  torch::NoGradGuard no_grad;
  const torch::Tensor z = Z(c, g);
  ExpectMatches(g->Map(z), c.at("ws"), "ws");
  ExpectMatches(g->forward(z), c.at("image"), "image");
}

TEST(Stylegan2GoldenTest, TruncationTowardsWAvg) {
  for (const char* name :
       {"Stylegan2EvalTruncNone", "Stylegan2EvalTruncCutoff"}) {
    const json& c = Case(name);
    Generator g = Build<Generator>(c);
    ASSERT_FALSE(HasFatalFailure());
    g->eval();
    const bool cutoff = c.contains("cutoff");
    g->set_noise_mode(cutoff ? NoiseMode::kConst : NoiseMode::kNone);
    g->set_truncation(
        c.at("psi").get<double>(),
        cutoff ? std::optional<int64_t>(c.at("cutoff").get<int64_t>())
               : std::nullopt);
    torch::NoGradGuard no_grad;
    ExpectMatches(g->forward(Z(c, g)), c.at("image"), name);
  }
}

// Training mode: shared weights with modulated activations, noise from the
// global generator in the reference's order, and w_avg moved towards the
// batch as in the reference's D phase.
TEST(Stylegan2GoldenTest, TrainRandomNoiseAndWAvgUpdate) {
  const json& c = Case("Stylegan2TrainRandom");
  Generator g = Build<Generator>(c);
  ASSERT_FALSE(HasFatalFailure());
  g->train();
  torch::NoGradGuard no_grad;
  torch::manual_seed(c.at("seed").get<uint64_t>());
  const torch::Tensor image =
      g->forward(Z(c, g), {}, nullptr, /*update_emas=*/true);
  ExpectMatches(image, c.at("image"), "train image");
  ExpectMatches(Buffer(*g, "mapping.w_avg"), c.at("mapping.w_avg"), "w_avg");
}

TEST(Stylegan2GoldenTest, ConditionalFp32At64) {
  const json& c = Case("Stylegan2CondEval64");
  Generator g = Build<Generator>(c);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(g->config().fp32);
  g->eval();
  g->set_noise_mode(NoiseMode::kNone);
  torch::NoGradGuard no_grad;
  const torch::Tensor labels = OneHot(c.at("labels"), g->config().c_dim);
  ExpectMatches(g->forward(Z(c, g), labels), c.at("image"), "cond image");
}

// The reference's separable discriminator blocks (use_separable_discs for
// StyleGAN2): SN depthwise and pointwise convolutions, BatchNorm, LeakyReLU
// and average pooling.
TEST(Stylegan2GoldenTest, SeparableDiscriminatorEval) {
  const json& c = Case("SeparableDiscriminatorEval32");
  ProjectedDiscriminator d = Build<ProjectedDiscriminator>(c);
  ASSERT_FALSE(HasFatalFailure());
  d->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x =
      F::interpolate(Images(c.at("images").get<std::string>(), 2, 32),
                     F::InterpolateFuncOptions()
                         .size(std::vector<int64_t>{224, 224})
                         .mode(torch::kBilinear)
                         .align_corners(false));
  ExpectMatches(
      d->discriminator->forward(d->feature_network(x), torch::Tensor()),
      c.at("logits"), "separable logits");
}

// `pgan summary --cfg stylegan2 --res 256`: a training configuration's
// defaults resolved for the cfg (z_dim 64) give the reference's counts.
TEST(Stylegan2GoldenTest, ParameterCountsAt256AreTheReferences) {
  const json& c = Case("Stylegan2Counts256");
  config::TrainingConfig training;
  training.model.cfg = "stylegan2";
  training.model.resolution = 256;
  training.ResolveCfgDefaults();
  EXPECT_EQ(training.model.z_dim, 64);
  EXPECT_DOUBLE_EQ(training.glr, 2e-3);
  EXPECT_DOUBLE_EQ(training.dlr, 2e-3);
  absl::StatusOr<Networks> nets = BuildNetworks(training.model);
  ASSERT_TRUE(nets.ok()) << nets.status();
  const ModelSummary summary = Summarize(*nets);
  EXPECT_EQ(summary.generator_params, c.at("G_params").get<int64_t>());
  int64_t buffers = 0;
  for (const torch::Tensor& b : (*nets).G->buffers()) buffers += b.numel();
  EXPECT_EQ(buffers, c.at("G_buffers").get<int64_t>());
  EXPECT_EQ(summary.discriminator_trainable_params,
            c.at("D_trainable_params").get<int64_t>());
}

}  // namespace
}  // namespace pgan::trainer
