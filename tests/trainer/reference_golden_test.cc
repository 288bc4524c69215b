// Golden test against the reference implementation (projected_gan e1c246b,
// timm 0.4.12): testdata/reference_golden.json holds outputs of the REAL
// reference modules for deterministic weights and inputs, written by
// tools/make_reference_golden.py (which documents the value formulas). Here
// the same weights and inputs are rebuilt from the same integer formulas, fed
// through pgan's modules, and compared.
//
// Tolerances: element-wise |a - e| <= 1e-5 + 1e-4 |e| + 8 r_i, and 1e-5
// relative (plus 8 times this machine's rounding of the same aggregate) on
// the whole-tensor aggregates stored with subsampled tensors (sum and sum of
// |x| relative to the reference's sum of |x|; sum of x^2, 2e-5). r_i is the
// case's own float32 rounding here: every case also runs in float64, and r_i
// is the larger of element i's |float32 - float64| and the RMS of those over
// the tensor. On the machine that made the data (Debian's LibTorch 1.13.1,
// the library the reference ran on) every compared value was bit-identical;
// other CPUs and BLAS libraries sum in another order, and some cases amplify
// that rounding far beyond 1e-4 of a small element (a 128 px FastGAN image
// of values up to 158, a gradient through the batch statistics of two
// images), which r_i measures instead of guessing. Measured on an AMD EPYC
// with Debian's reference BLAS: the largest error is 0.36 of its tolerance,
// and scaling ONE element by 1 + 1e-3 of G's first or last layer, of D's
// stem convolution or of the stem's BatchNorm mean still fails the affected
// cases. DiffAugment's random draws must match exactly.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "config/model_config.h"
#include "trainer/diffaug.h"
#include "trainer/discriminator.h"
#include "trainer/generator.h"
#include "trainer/loss.h"
#include "trainer/state_dict.h"

#ifndef PGAN_TESTDATA_DIR
#error "PGAN_TESTDATA_DIR must name tests/trainer/testdata"
#endif

namespace pgan::trainer {
namespace {

namespace F = torch::nn::functional;
using nlohmann::json;

constexpr double kRtol = 1e-4;
constexpr double kAtol = 1e-5;
constexpr double kAggregateRtol = 1e-5;
// Times the case's own float32 rounding r_i (see the top).
constexpr double kRoundingFactor = 8;

const json& Golden() {
  static const json* const golden = [] {
    const std::string path =
        std::string(PGAN_TESTDATA_DIR) + "/reference_golden.json";
    std::ifstream in(path);
    if (!in) {
      ADD_FAILURE() << "cannot read " << path;
      return new json(json::object());
    }
    return new json(json::parse(in));
  }();
  return *golden;
}

const json& Case(const std::string& name) {
  return Golden().at("cases").at(name);
}

// ---------------------------------------------------------------------------
// Deterministic values, as tools/make_reference_golden.py defines them.

uint32_t Fnv1a32(const std::string& text) {
  uint32_t h = 2166136261u;
  for (const unsigned char b : text) {
    h ^= b;
    h *= 16777619u;
  }
  return h;
}

uint32_t Fmix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  x ^= x >> 16;
  return x;
}

// u_i in [0, 1), i < n, for the tensor named `key`.
std::vector<double> Uniform(const std::string& key, int64_t n) {
  const uint32_t h = Fnv1a32(key);
  std::vector<double> u(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t x = Fmix32(h + static_cast<uint32_t>(i) * 2654435761u);
    u[static_cast<size_t>(i)] = static_cast<double>(x >> 8) / 16777216.0;
  }
  return u;
}

torch::Tensor FromDoubles(std::vector<double> values, torch::IntArrayRef shape,
                          torch::ScalarType dtype) {
  return torch::from_blob(values.data(), {static_cast<int64_t>(values.size())},
                          torch::kDouble)
      .to(dtype)
      .reshape(shape)
      .clone();
}

// golden.z: (u - 0.5) * 4.
torch::Tensor Latents(const std::string& key, int64_t batch, int64_t z_dim) {
  std::vector<double> u = Uniform(key, batch * z_dim);
  for (double& x : u) x = (x - 0.5) * 4;
  return FromDoubles(std::move(u), {batch, z_dim}, torch::kFloat);
}

// golden.images.R: u * 2 - 1.
torch::Tensor Images(const std::string& key, int64_t batch, int64_t side) {
  std::vector<double> u = Uniform(key, batch * 3 * side * side);
  for (double& x : u) x = x * 2 - 1;
  return FromDoubles(std::move(u), {batch, 3, side, side}, torch::kFloat);
}

torch::Tensor OneHot(const json& labels, int64_t classes) {
  const auto index = labels.get<std::vector<int64_t>>();
  return F::one_hot(torch::tensor(index, torch::kInt64), classes)
      .to(torch::kFloat);
}

// u and v after 30 float64 power iterations from u = normalize(ones), on
// weight_orig as a matrix with `dim` first.
std::pair<torch::Tensor, torch::Tensor> PowerIteration(
    const torch::Tensor& weight_orig, bool transposed, int iterations) {
  torch::Tensor w = weight_orig.to(torch::kDouble);
  if (transposed) w = w.transpose(0, 1);
  w = w.reshape({w.size(0), -1});
  const auto normalize = [](const torch::Tensor& x) {
    return F::normalize(x, F::NormalizeFuncOptions().p(2).dim(0).eps(1e-12));
  };
  torch::Tensor u = normalize(torch::ones({w.size(0)}, torch::kDouble));
  torch::Tensor v;
  for (int i = 0; i < iterations; ++i) {
    v = normalize(torch::mv(w.t(), u));
    u = normalize(torch::mv(w, v));
  }
  return {u.to(torch::kFloat), v.to(torch::kFloat)};
}

// Fills every state entry of `module` as the generator script filled the
// reference network `network` (whose keys, kinds and shapes the JSON lists),
// after checking that both have exactly the same keys and shapes.
void FillDeterministic(torch::nn::Module& module, const json& network) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> state;
  for (auto& [key, tensor] : StateDict(module)) state.emplace(key, tensor);
  const json& entries = network.at("state");
  ASSERT_EQ(state.size(), entries.size())
      << "pgan's state dict and the reference's differ in size";
  const double bn_var_scale = network.at("bn_var_scale").get<double>();
  const double s = std::sqrt(bn_var_scale);
  std::vector<std::pair<std::string, std::string>> sn;  // key, kind
  for (const json& entry : entries) {
    const std::string key = entry.at(0).get<std::string>();
    const std::string kind = entry.at(1).get<std::string>();
    const auto shape = entry.at(2).get<std::vector<int64_t>>();
    auto it = state.find(key);
    ASSERT_NE(it, state.end()) << "pgan has no state entry \"" << key << "\"";
    torch::Tensor& t = it->second;
    ASSERT_EQ(t.sizes(), torch::IntArrayRef(shape)) << key;
    const int64_t n = t.numel();
    if (kind == "sn_u" || kind == "sn_u_t") {
      sn.emplace_back(key, kind);
      continue;
    }
    if (kind == "sn_v" || kind == "sn_v_t") continue;  // with its u
    // value = (u + shift) * scale + offset, as the generator script.
    double shift = -0.5, scale = 1, offset = 0;
    if (kind == "weight" || kind == "weight_t") {
      // fan_in = numel / shape[0] (for [in, out, k, k] that is out * k * k).
      scale = 2 / std::sqrt(static_cast<double>(n / shape.at(0)));
    } else if (kind == "bias") {
      scale = 0.2;
    } else if (kind == "bn_weight") {
      scale = 0.4, offset = 1;
    } else if (kind == "bn_bias") {
      scale = 0.4;
    } else if (kind == "mean") {
      scale = 0.4 * s;
    } else if (kind == "var") {
      shift = 0.5, scale = bn_var_scale;
    } else if (kind == "embedding") {
      scale = 2;
    } else if (kind == "zero") {
      t.zero_();
      continue;
    } else {
      FAIL() << "unknown kind \"" << kind << "\" for " << key;
    }
    ASSERT_EQ(t.scalar_type(), torch::kFloat) << key;
    ASSERT_TRUE(t.is_contiguous()) << key;
    const std::vector<double> u = Uniform(key, n);
    float* out = t.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      out[i] = static_cast<float>((u[static_cast<size_t>(i)] + shift) * scale +
                                  offset);
    }
  }
  const int iterations = Golden().at("sn_iterations").get<int>();
  for (const auto& [key, kind] : sn) {
    const std::string base =
        key.substr(0, key.size() - std::string("weight_u").size());
    ASSERT_TRUE(state.count(base + "weight_orig") &&
                state.count(base + "weight_v"))
        << key;
    auto [u, v] = PowerIteration(state.at(base + "weight_orig"),
                                 kind == "sn_u_t", iterations);
    state.at(key).copy_(u);
    state.at(base + "weight_v").copy_(v);
  }
}

config::ModelConfig NetworkConfig(const json& network) {
  absl::StatusOr<config::ModelConfig> config = config::ModelConfig::FromJson(
      network.at("config"), "reference_golden.json");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : config::ModelConfig();
}

const json& Network(const json& test_case) {
  return Golden().at("networks").at(test_case.at("network").get<std::string>());
}

// Builds `network`'s module (Generator or ProjectedDiscriminator), fills it
// (in float32, as the reference) and converts it to `dtype`.
template <typename Holder>
Holder Build(const json& network, torch::Dtype dtype = torch::kFloat) {
  Holder module(NetworkConfig(network));
  FillDeterministic(*module, network);
  module->to(dtype);
  return module;
}

// ---------------------------------------------------------------------------
// Comparison

// Compares `actual` with a stored tensor (whole, or every stride-th flat
// element plus aggregates). `exact` is the same computation in float64
// (undefined: none), whose difference from `actual` widens the tolerance by
// the case's own rounding r_i. Prints the largest errors seen.
void ExpectMatches(const torch::Tensor& actual_in, const json& expected,
                   const std::string& what, double rtol = kRtol,
                   double atol = kAtol,
                   const torch::Tensor& exact_in = torch::Tensor()) {
  const auto shape = expected.at("shape").get<std::vector<int64_t>>();
  ASSERT_EQ(actual_in.sizes(), torch::IntArrayRef(shape)) << what;
  const auto flat = [](const torch::Tensor& t) {
    return t.detach().to(torch::kCPU, torch::kDouble).contiguous().view(-1);
  };
  const torch::Tensor actual = flat(actual_in);
  const torch::Tensor exact = exact_in.defined() ? flat(exact_in) : actual;
  ASSERT_EQ(exact.numel(), actual.numel()) << what;
  const double* a = actual.data_ptr<double>();
  const double* x = exact.data_ptr<double>();
  const int64_t stride = expected.at("stride").get<int64_t>();
  const json& values = expected.at("values");
  // The typical |float32 - float64| of the compared values (their RMS).
  double rounding = 0;
  for (size_t j = 0; j < values.size(); ++j) {
    const int64_t i = static_cast<int64_t>(j) * stride;
    ASSERT_LT(i, actual.numel()) << what;
    rounding += (a[i] - x[i]) * (a[i] - x[i]);
  }
  rounding = std::sqrt(rounding / std::max<size_t>(1, values.size()));
  double max_abs = 0, max_rel = 0, worst = 0;  // worst = err / tolerance
  int64_t failures = 0, first_failure = -1;
  for (size_t j = 0; j < values.size(); ++j) {
    const int64_t i = static_cast<int64_t>(j) * stride;
    const double e = static_cast<float>(values[j].get<double>());
    const double err = std::abs(a[i] - e);
    max_abs = std::max(max_abs, err);
    if (e != 0) max_rel = std::max(max_rel, err / std::abs(e));
    const double own = std::max(std::abs(a[i] - x[i]), rounding);
    const double ratio =
        err / (atol + rtol * std::abs(e) + kRoundingFactor * own);
    worst = std::max(worst, ratio);
    if (!(ratio <= 1)) {  // also catches NaN
      if (failures++ == 0) first_failure = i;
    }
  }
  std::ostringstream summary;
  summary << what << ": " << values.size() << " values, max |err| " << max_abs
          << ", max rel " << max_rel << ", float32 rounding " << rounding
          << ", worst err/tol " << worst;
  if (expected.contains("sum")) {
    const double ref_sum_abs = expected.at("sum_abs").get<double>();
    const double ref_sum_sq = expected.at("sum_sq").get<double>();
    // Relative error of an aggregate, and of its float32 rounding here.
    const auto check = [&](double value, double exact_value, double ref,
                           double scale, double rtol_aggregate,
                           const char* name) {
      const double err = std::abs(value - ref) / scale;
      const double own = std::abs(value - exact_value) / scale;
      summary << ", " << name << " " << err;
      EXPECT_LE(err, rtol_aggregate + kRoundingFactor * own)
          << what << " " << name;
    };
    summary << "; aggregates rel err";
    check(actual.sum().item<double>(), exact.sum().item<double>(),
          expected.at("sum").get<double>(), ref_sum_abs, kAggregateRtol, "sum");
    check(actual.abs().sum().item<double>(), exact.abs().sum().item<double>(),
          ref_sum_abs, ref_sum_abs, kAggregateRtol, "sum|x|");
    check(actual.square().sum().item<double>(),
          exact.square().sum().item<double>(), ref_sum_sq, ref_sum_sq,
          2 * kAggregateRtol, "sum x^2");
  }
  std::cout << "  " << summary.str() << "\n";
  EXPECT_EQ(failures, 0) << what << ": " << failures << " of " << values.size()
                         << " values off; first at flat index " << first_failure
                         << ": got " << a[first_failure] << ", expected "
                         << static_cast<float>(
                                values[first_failure / stride].get<double>());
}

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

torch::Tensor Buffer(const torch::nn::Module& module, const std::string& key) {
  for (auto& [name, tensor] : StateDict(module)) {
    if (name == key) return tensor;
  }
  ADD_FAILURE() << "no state entry " << key;
  return torch::zeros({0});
}

// ---------------------------------------------------------------------------
// Generators

void CheckGeneratorEval(const std::string& case_name) {
  const json& c = Case(case_name);
  ExpectMatchesInBothPrecisions([&](torch::Dtype dtype) -> std::vector<Output> {
    Generator g = Build<Generator>(Network(c), dtype);
    if (testing::Test::HasFatalFailure()) return {};
    g->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor z =
        Latents(c.at("z").get<std::string>(), 2, g->config().z_dim).to(dtype);
    const torch::Tensor labels =
        g->config().conditional()
            ? OneHot(c.at("labels"), g->config().c_dim).to(dtype)
            : torch::Tensor();
    return {{case_name + " image", &c.at("image"), g->forward(z, labels)}};
  });
}

TEST(ReferenceGoldenTest, GeneratorEval128) {
  CheckGeneratorEval("GeneratorEval128");
}

TEST(ReferenceGoldenTest, GeneratorLiteEval256) {
  CheckGeneratorEval("GeneratorLiteEval256");
}

TEST(ReferenceGoldenTest, GeneratorCondEval128) {
  CheckGeneratorEval("GeneratorCondEval128");
}

// Training mode: BatchNorm on batch statistics (and their running update),
// one power iteration per spectral-norm layer. Noise weights are 0.
TEST(ReferenceGoldenTest, GeneratorTrain128) {
  const json& c = Case("GeneratorTrain128");
  ExpectMatchesInBothPrecisions([&](torch::Dtype dtype) -> std::vector<Output> {
    Generator g = Build<Generator>(Network(c), dtype);
    if (HasFatalFailure()) return {};
    g->train();
    torch::NoGradGuard no_grad;
    torch::manual_seed(0);
    const torch::Tensor z =
        Latents(c.at("z").get<std::string>(), 2, g->config().z_dim).to(dtype);
    std::vector<Output> out = {{"train image", &c.at("image"), g->forward(z)}};
    for (const char* key :
         {"synthesis.feat_8.3.running_mean", "synthesis.feat_8.1.weight_u"}) {
      out.push_back({key, &c.at(key), Buffer(*g, key)});
    }
    return out;
  });
}

// ---------------------------------------------------------------------------
// Discriminators (no DiffAugment)

TEST(ReferenceGoldenTest, DiscriminatorEval128) {
  const json& c = Case("DiscriminatorEval128");
  ExpectMatchesInBothPrecisions([&](torch::Dtype dtype) -> std::vector<Output> {
    ProjectedDiscriminator d = Build<ProjectedDiscriminator>(Network(c), dtype);
    if (HasFatalFailure()) return {};
    d->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor x =
        Images(c.at("images").get<std::string>(), 2, 128).to(dtype);
    const torch::Tensor h =
        F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{224, 224})
                              .mode(torch::kBilinear)
                              .align_corners(false));
    const auto stages = d->feature_network->pretrained->forward(h);
    const auto csm = d->feature_network->forward(h);
    std::vector<Output> out;
    for (int k = 0; k < 4; ++k) {
      out.push_back(
          {"stage" + std::to_string(k), &c.at("stages").at(k), stages[k]});
    }
    for (int k = 0; k < 4; ++k) {
      out.push_back({"csm" + std::to_string(k), &c.at("csm").at(k), csm[k]});
    }
    // (The other discriminator tests go through forward(), resize included.)
    out.push_back(
        {"logits", &c.at("logits"), d->discriminator->forward(csm, {})});
    return out;
  });
}

// One training-mode pass (mini-discriminator BatchNorms on batch statistics,
// one power iteration; the feature network stays in eval mode), the hinge
// loss on real images and its gradient.
TEST(ReferenceGoldenTest, DiscriminatorTrainStep128) {
  const json& c = Case("DiscriminatorTrainStep128");
  const std::string grad_key = c.at("grad_key").get<std::string>();
  double loss32 = 0, loss64 = 0;
  ExpectMatchesInBothPrecisions([&](torch::Dtype dtype) -> std::vector<Output> {
    ProjectedDiscriminator d = Build<ProjectedDiscriminator>(Network(c), dtype);
    if (HasFatalFailure()) return {};
    d->train();
    const torch::Tensor x =
        Images(c.at("images").get<std::string>(), 2, 128).to(dtype);
    const torch::Tensor logits = d->forward(x, {}, nullptr);
    const torch::Tensor loss = DiscriminatorRealLoss(logits);
    loss.backward();
    (dtype == torch::kFloat ? loss32 : loss64) = loss.item<double>();
    const torch::Tensor weight = d->named_parameters()[grad_key];
    EXPECT_TRUE(weight.grad().defined());
    if (!weight.grad().defined()) return {};
    std::vector<Output> out = {
        {"train logits", &c.at("logits"), logits.detach()},
        {"grad " + grad_key, &c.at("grad"), weight.grad()}};
    for (const char* key :
         {"discriminator.mini_discs.0.main.0.main.0.weight_u",
          "discriminator.mini_discs.0.main.0.main.1.running_mean"}) {
      out.push_back({key, &c.at(key), Buffer(*d, key)});
    }
    return out;
  });
  const double ref_loss = c.at("loss").get<double>();
  std::cout << "  loss " << loss32 << " vs " << ref_loss << "\n";
  EXPECT_NEAR(loss32, ref_loss,
              kAtol + kRtol * std::abs(ref_loss) +
                  kRoundingFactor * std::abs(loss32 - loss64));
}

TEST(ReferenceGoldenTest, DiscriminatorLite1Eval256) {
  const json& c = Case("DiscriminatorLite1Eval256");
  ExpectMatchesInBothPrecisions([&](torch::Dtype dtype) -> std::vector<Output> {
    ProjectedDiscriminator d = Build<ProjectedDiscriminator>(Network(c), dtype);
    if (HasFatalFailure()) return {};
    d->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor x =
        Images(c.at("images").get<std::string>(), 2, 256).to(dtype);
    return {{"lite1 logits", &c.at("logits"), d->forward(x, {}, nullptr)}};
  });
}

TEST(ReferenceGoldenTest, DiscriminatorCondEval128) {
  const json& c = Case("DiscriminatorCondEval128");
  ExpectMatchesInBothPrecisions([&](torch::Dtype dtype) -> std::vector<Output> {
    ProjectedDiscriminator d = Build<ProjectedDiscriminator>(Network(c), dtype);
    if (HasFatalFailure()) return {};
    d->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor x =
        Images(c.at("images").get<std::string>(), 2, 128).to(dtype);
    const torch::Tensor labels =
        OneHot(c.at("labels"), d->config().c_dim).to(dtype);
    return {{"cond logits", &c.at("logits"), d->forward(x, labels, nullptr)}};
  });
}

// ---------------------------------------------------------------------------
// DiffAugment with the global generator: LibTorch's CPU generator is
// PyTorch's, so the same seed and the same draws (order, shapes, dtypes)
// give the reference's numbers exactly.

TEST(ReferenceGoldenTest, DiffAugmentSeeded) {
  const json& c = Case("DiffAugmentSeeded");
  const torch::Tensor x = Images(c.at("images").get<std::string>(), 2, 32);
  torch::manual_seed(c.at("seed").get<uint64_t>());
  const DiffAugmentParams p =
      SampleDiffAugmentParams(2, 32, 32, torch::kFloat, nullptr);
  const json& draws = c.at("draws");
  const auto expect_floats = [&](const torch::Tensor& t, const char* name) {
    const auto ref = draws.at(name).get<std::vector<double>>();
    const torch::Tensor flat = t.to(torch::kDouble).contiguous().view(-1);
    ASSERT_EQ(flat.numel(), static_cast<int64_t>(ref.size())) << name;
    for (size_t i = 0; i < ref.size(); ++i) {
      EXPECT_EQ(static_cast<float>(flat[i].item<double>()),
                static_cast<float>(ref[i]))
          << name << "[" << i << "]";
    }
  };
  const auto expect_ints = [&](const torch::Tensor& t, const char* name) {
    const auto ref = draws.at(name).get<std::vector<int64_t>>();
    const torch::Tensor flat = t.contiguous().view(-1);
    ASSERT_EQ(flat.numel(), static_cast<int64_t>(ref.size())) << name;
    for (size_t i = 0; i < ref.size(); ++i) {
      EXPECT_EQ(flat[i].item<int64_t>(), ref[i]) << name << "[" << i << "]";
    }
  };
  expect_floats(p.brightness, "brightness");
  expect_floats(p.saturation, "saturation");
  expect_floats(p.contrast, "contrast");
  expect_ints(p.translation_x, "translation_x");
  expect_ints(p.translation_y, "translation_y");
  expect_ints(p.cutout_x, "cutout_x");
  expect_ints(p.cutout_y, "cutout_y");
  ExpectMatches(DiffAugment(x, p), c.at("augmented"), "augmented", 1e-6, 1e-6);
}

}  // namespace
}  // namespace pgan::trainer
