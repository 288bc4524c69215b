// The gradients one training iteration applies, computed by this build's
// float32 kernels, agree with the same computation in float64 on this
// machine: the G phase's gradients of G's parameters (G -> DiffAugment ->
// the projected discriminator -> the G loss) and the D phase's of D's
// trainable parameters (fake and real passes). The networks are the
// iteration golden test's (deterministic weights), batches of two as there.
//
// Why: the golden tests compare with numbers made on one machine, and a
// first Adam step moves each value by about lr * sign(gradient), so their
// failure says only that some sign differs. This test says whether this
// build's float32 kernels are sound on this machine: float64 runs
// LibTorch's native kernels (oneDNN has none for it), so a float32 kernel
// that computes something else shows as a gradient pointing elsewhere,
// whatever the reference did. (pgan's own arithmetic is the same code in
// both precisions; the golden tests check that.)
//
// Bound: per tensor, ||g32 - g64|| <= 0.1 ||g64||. Measured on an AMD EPYC
// (AVX2), largest in the G phase / the D phase: Debian 12's LibTorch 1.13
// 0.047 / 0.013; Debian 13's 2.6 0.025 / 0.014 (median over all tensors
// 0.015), with oneDNN held to SSE4.1 0.027 (float32 rounding, amplified by
// BatchNorm over batches of two). A float32-only error of 5% in the
// backward of G's upsampling convolution fails 21 of G's tensors (at 0.16). Tensors whose float64
// gradient is below 1e-4 of the phase's largest gradient norm are rounding
// (conv biases before a train-mode BatchNorm, whose gradient is zero
// exactly) and are only counted.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/trainer/golden_util.h"
#include "trainer/diffaug.h"
#include "trainer/discriminator.h"
#include "trainer/generator.h"
#include "trainer/loss.h"
#include "trainer/noise_mode.h"
#include "trainer/sample_random.h"

namespace pgan::trainer {
namespace {

using nlohmann::json;
using Gradients = std::map<std::string, torch::Tensor>;

constexpr double kRelTol = 0.1;
constexpr double kNegligible = 1e-4;

const json& Golden() { return golden::Load("iteration_golden.json"); }

template <typename Holder>
Holder Build(const std::string& network, torch::Dtype dtype) {
  Holder module = golden::Build<Holder>(Golden().at("networks").at(network),
                                        Golden().at("sn_iterations").get<int>(),
                                        dtype);
  module->train();
  return module;
}

// DiffAugment parameters drawn in float32 (uniform draws in float64 would
// take other bits of the stream) and given `dtype`.
DiffAugmentParams Augment(uint64_t key, int64_t res, torch::Dtype dtype) {
  SampleRandom random({key, key + 1});
  DiffAugmentParams p = SampleDiffAugmentParams(
      2, res, res, torch::TensorOptions().dtype(torch::kFloat), &random);
  p.brightness = p.brightness.to(dtype);
  p.saturation = p.saturation.to(dtype);
  p.contrast = p.contrast.to(dtype);
  return p;
}

Gradients Collect(const torch::nn::Module& module, const std::string& prefix) {
  Gradients out;
  for (const auto& p : module.named_parameters()) {
    if (p.value().grad().defined()) {
      out[prefix + p.key()] = p.value().grad().to(torch::kDouble).clone();
    }
  }
  return out;
}

// Both phases' gradients in `dtype`, from the same weights and inputs.
struct PhaseGradients {
  Gradients g_phase;  // G's parameters.
  Gradients d_phase;  // D's trainable parameters.
};

PhaseGradients RunBothPhases(torch::Dtype dtype) {
  PhaseGradients out;
  Generator g = Build<Generator>("G", dtype);
  ProjectedDiscriminator d = Build<ProjectedDiscriminator>("D", dtype);
  // Noise off: N(0, 1) draws in float64 would differ from float32's.
  g->set_noise_mode(NoiseMode::kNone);
  const int64_t res = g->config().resolution;
  const torch::Tensor z =
      golden::Latents("gradient_precision.z", 2, g->config().z_dim).to(dtype);

  const torch::Tensor fake = g->forward(z, {});
  const DiffAugmentParams g_aug = Augment(1, res, dtype);
  GeneratorLoss(d->forward(fake, {}, &g_aug)).backward();
  out.g_phase = Collect(*g, "G.");

  d->zero_grad();
  const DiffAugmentParams fake_aug = Augment(3, res, dtype);
  DiscriminatorFakeLoss(d->forward(fake.detach(), {}, &fake_aug, false))
      .backward();
  const torch::Tensor real =
      golden::Images("gradient_precision.reals", 2, res).to(dtype);
  const DiffAugmentParams real_aug = Augment(5, res, dtype);
  DiscriminatorRealLoss(d->forward(real, {}, &real_aug, false)).backward();
  out.d_phase = Collect(*d, "D.");
  return out;
}

void ExpectAgree(const Gradients& single, const Gradients& exact,
                 const std::string& phase) {
  ASSERT_EQ(single.size(), exact.size()) << phase;
  ASSERT_FALSE(exact.empty()) << phase;
  double largest = 0;
  for (const auto& [name, g] : exact) {
    largest = std::max(largest, g.norm().item<double>());
  }
  double worst = 0;
  std::string worst_name;
  int checked = 0, negligible = 0;
  for (const auto& [name, g64] : exact) {
    ASSERT_TRUE(single.count(name)) << phase << ": no float32 gradient of " << name;
    const double norm = g64.norm().item<double>();
    if (norm < kNegligible * largest) {
      ++negligible;
      continue;
    }
    const double rel = (single.at(name) - g64).norm().item<double>() / norm;
    EXPECT_LE(rel, kRelTol) << phase << ": " << name
                            << "'s float32 gradient is off its float64 one by "
                            << rel << " of its norm";
    if (rel > worst) worst = rel, worst_name = name;
    ++checked;
  }
  std::cout << "  " << phase << ": " << checked << " gradients checked, largest "
            << "||g32 - g64|| / ||g64|| " << worst << " (" << worst_name << "); "
            << negligible << " negligible\n";
}

TEST(GradientPrecisionTest, Float32GradientsAgreeWithFloat64) {
  const PhaseGradients single = RunBothPhases(torch::kFloat);
  const PhaseGradients exact = RunBothPhases(torch::kDouble);
  ExpectAgree(single.g_phase, exact.g_phase, "G phase");
  ExpectAgree(single.d_phase, exact.d_phase, "D phase");
}

}  // namespace
}  // namespace pgan::trainer
