#include "tests/trainer/golden_util.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "trainer/state_dict.h"

#ifndef PGAN_TESTDATA_DIR
#error "PGAN_TESTDATA_DIR must name tests/trainer/testdata"
#endif

namespace pgan::trainer::golden {
namespace {

namespace F = torch::nn::functional;

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

}  // namespace

const json& Load(const std::string& file) {
  static auto* const loaded =
      new std::map<std::string, std::unique_ptr<json>>();
  auto it = loaded->find(file);
  if (it == loaded->end()) {
    const std::string path = std::string(PGAN_TESTDATA_DIR) + "/" + file;
    std::ifstream in(path);
    auto doc = std::make_unique<json>(json::object());
    if (!in) {
      ADD_FAILURE() << "cannot read " << path;
    } else {
      *doc = json::parse(in);
    }
    it = loaded->emplace(file, std::move(doc)).first;
  }
  return *it->second;
}

// ---------------------------------------------------------------------------
// Deterministic values, as tools/make_reference_golden.py defines them.

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

torch::Device TestDevice() {
  const char* spec = std::getenv("PGAN_TEST_DEVICE");
  return spec == nullptr || *spec == '\0' ? torch::Device(torch::kCPU)
                                          : torch::Device(spec);
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
  return FromDoubles(std::move(u), {batch, z_dim}, torch::kFloat)
      .to(TestDevice());
}

// golden.images.R: u * 2 - 1.
torch::Tensor Images(const std::string& key, int64_t batch, int64_t side) {
  std::vector<double> u = Uniform(key, batch * 3 * side * side);
  for (double& x : u) x = x * 2 - 1;
  return FromDoubles(std::move(u), {batch, 3, side, side}, torch::kFloat)
      .to(TestDevice());
}

torch::Tensor OneHot(const json& labels, int64_t classes) {
  const auto index = labels.get<std::vector<int64_t>>();
  return F::one_hot(torch::tensor(index, torch::kInt64), classes)
      .to(TestDevice(), torch::kFloat);
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

void FillDeterministic(torch::nn::Module& module, const json& network,
                       int iterations) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> state;
  for (auto& [key, tensor] : StateDict(module)) state.emplace(key, tensor);
  const json& entries = network.at("state");
  ASSERT_EQ(state.size(), entries.size())
      << "pgan's state dict and the reference's differ in size";
  // Only networks with BatchNorm statistics record their scale.
  const double bn_var_scale = network.value("bn_var_scale", 1.0);
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
    } else if (kind == "sg2_weight") {
      scale = std::sqrt(12.0);  // Unit variance, as StyleGAN2's randn.
    } else if (kind == "sg2_map") {
      scale = std::sqrt(12.0) / 0.01;  // randn / lr_multiplier.
    } else if (kind == "affine_bias") {
      scale = 0.2, offset = 1;
    } else if (kind == "noise") {
      scale = 0.2, offset = 0.2;
    } else if (kind == "w_avg") {
      scale = 2;
    } else if (kind == "keep") {
      continue;  // resample_filter: the module's own.
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
  absl::StatusOr<config::ModelConfig> config =
      config::ModelConfig::FromJson(network.at("config"), "golden file");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : config::ModelConfig();
}

// ---------------------------------------------------------------------------
// Comparison

// Compares `actual` with a stored tensor (whole, or every stride-th flat
// element plus aggregates). `exact` is the same computation in float64
// (undefined: none), whose difference from `actual` widens the tolerance by
// the case's own rounding r_i. Prints the largest errors seen.
void ExpectMatches(const torch::Tensor& actual_in, const json& expected,
                   const std::string& what, double rtol, double atol,
                   const torch::Tensor& exact_in) {
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

torch::Tensor Buffer(const torch::nn::Module& module, const std::string& key) {
  for (auto& [name, tensor] : StateDict(module)) {
    if (name == key) return tensor;
  }
  ADD_FAILURE() << "no state entry " << key;
  return torch::zeros({0});
}

}  // namespace pgan::trainer::golden
