// What the golden tests against the reference implementation share
// (reference_golden_test.cc, stylegan2_golden_test.cc): the deterministic
// values of tools/make_reference_golden.py (which documents the formulas;
// make_stylegan2_golden.py adds StyleGAN2's kinds), filling pgan's modules
// with them, and comparing outputs with the stored reference tensors under
// the tolerances that reference_golden_test.cc explains.
#ifndef PGAN_TESTS_TRAINER_GOLDEN_UTIL_H_
#define PGAN_TESTS_TRAINER_GOLDEN_UTIL_H_

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "config/model_config.h"

namespace pgan::trainer::golden {

using nlohmann::json;

constexpr double kRtol = 1e-4;
constexpr double kAtol = 1e-5;
constexpr double kAggregateRtol = 1e-5;
// Times the case's own float32 rounding r_i (see the top).
constexpr double kRoundingFactor = 8;

// Where the golden tests of FastGAN, the discriminators and the iteration
// run: PGAN_TEST_DEVICE ("cuda", "cuda:N"; tools/gpu_check.sh sets it), or
// the CPU when unset. Inputs are made on the CPU, as the reference's, and
// moved there; outputs come back for the comparison.
torch::Device TestDevice();

// A file of tests/trainer/testdata, parsed once.
const json& Load(const std::string& file);

// u_i in [0, 1), i < n, for the tensor named `key`.
std::vector<double> Uniform(const std::string& key, int64_t n);
torch::Tensor FromDoubles(std::vector<double> values, torch::IntArrayRef shape,
                          torch::ScalarType dtype);
// golden.z*: (u - 0.5) * 4; golden.images.R: u * 2 - 1.
torch::Tensor Latents(const std::string& key, int64_t batch, int64_t z_dim);
torch::Tensor Images(const std::string& key, int64_t batch, int64_t side);
torch::Tensor OneHot(const json& labels, int64_t classes);

// Fills every state entry of `module` as the generator script filled the
// reference network `network` (whose keys, kinds and shapes the JSON lists),
// after checking that both have exactly the same keys and shapes.
// Spectral-norm vectors take `sn_iterations` float64 power iterations.
void FillDeterministic(torch::nn::Module& module, const json& network,
                       int sn_iterations);
config::ModelConfig NetworkConfig(const json& network);

// Builds `network`'s module (Generator or ProjectedDiscriminator), fills it
// (in float32, as the reference) and converts it to `dtype`.
template <typename Holder>
Holder Build(const json& network, int sn_iterations,
             torch::Dtype dtype = torch::kFloat) {
  Holder module(NetworkConfig(network));
  FillDeterministic(*module, network, sn_iterations);
  module->to(TestDevice(), dtype);
  return module;
}

// Compares `actual` with a stored tensor (whole, or every stride-th flat
// element plus aggregates). `exact` is the same computation in float64
// (undefined: none), whose difference from `actual` widens the tolerance by
// the case's own rounding r_i. Prints the largest errors seen.
void ExpectMatches(const torch::Tensor& actual_in, const json& expected,
                   const std::string& what, double rtol = kRtol,
                   double atol = kAtol,
                   const torch::Tensor& exact_in = torch::Tensor());

// One output of a case and the stored tensor it must match.
struct Output {
  std::string what;      // For messages.
  const json* expected;  // In the golden file.
  torch::Tensor value;
};

// `run(dtype)` computes a case's outputs from a fresh module in `dtype`.
// Each float32 output is compared with its stored tensor, the float64 one
// giving the case's rounding (see ExpectMatches).
template <typename Run>
void ExpectMatchesInBothPrecisions(Run run) {
  const std::vector<Output> single = run(torch::kFloat);
  if (testing::Test::HasFatalFailure()) return;
  const std::vector<Output> exact = run(torch::kDouble);
  if (testing::Test::HasFatalFailure()) return;
  ASSERT_EQ(single.size(), exact.size());
  for (size_t k = 0; k < single.size(); ++k) {
    ExpectMatches(single[k].value, *single[k].expected, single[k].what, kRtol,
                  kAtol, exact[k].value);
  }
}

// A module's state entry by its state-dict key.
torch::Tensor Buffer(const torch::nn::Module& module, const std::string& key);

}  // namespace pgan::trainer::golden

#endif  // PGAN_TESTS_TRAINER_GOLDEN_UTIL_H_
