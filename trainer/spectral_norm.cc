#include "trainer/spectral_norm.h"

#include <cmath>

#include <torch/nn/functional/normalization.h>
#include <torch/nn/init.h>

#include "trainer/upsample_conv.h"

namespace pgan::trainer {
namespace {

namespace F = torch::nn::functional;
constexpr double kEps = 1e-12;

torch::Tensor AsMatrix(const torch::Tensor& weight, int64_t dim) {
  torch::Tensor w = weight;
  if (dim != 0) {
    std::vector<int64_t> perm{dim};
    for (int64_t d = 0; d < weight.dim(); ++d) {
      if (d != dim) perm.push_back(d);
    }
    w = w.permute(perm);
  }
  return w.reshape({w.size(0), -1});
}

torch::Tensor Normalize(const torch::Tensor& x) {
  return F::normalize(x, F::NormalizeFuncOptions().p(2).dim(0).eps(kEps));
}

// PyTorch's default initialisation of conv and linear layers:
// kaiming_uniform(a = sqrt(5)) for the weight, U(+-1/sqrt(fan_in)) for the bias.
void DefaultInit(torch::Tensor& weight, torch::Tensor& bias) {
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const auto fans = torch::nn::init::_calculate_fan_in_and_fan_out(weight);
    const double bound = 1.0 / std::sqrt(static_cast<double>(std::get<0>(fans)));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
}

}  // namespace

torch::Tensor SpectralNormalizedWeight(const torch::Tensor& weight_orig,
                                       torch::Tensor& u, torch::Tensor& v,
                                       int64_t dim, bool power_iteration) {
  const torch::Tensor w = AsMatrix(weight_orig, dim);
  torch::Tensor u_used = u;
  torch::Tensor v_used = v;
  if (power_iteration) {
    {
      torch::NoGradGuard no_grad;
      v.copy_(Normalize(torch::mv(w.t(), u)));
      u.copy_(Normalize(torch::mv(w, v)));
    }
    // As PyTorch: later in-place updates must not alter what backward saw.
    u_used = u.clone(torch::MemoryFormat::Contiguous);
    v_used = v.clone(torch::MemoryFormat::Contiguous);
  }
  const torch::Tensor sigma = torch::dot(u_used, torch::mv(w, v_used));
  return weight_orig / sigma;
}

void SpectralNormed::PowerIteration() {
  torch::NoGradGuard no_grad;
  const torch::Tensor w = AsMatrix(weight_orig, dim_);
  weight_v.copy_(Normalize(torch::mv(w.t(), weight_u)));
  weight_u.copy_(Normalize(torch::mv(w, weight_v)));
}

torch::Tensor SpectralNormed::NormalizedWeight(bool training) {
  return SpectralNormalizedWeight(weight_orig, weight_u, weight_v, dim_,
                                  training && refine_in_forward);
}

namespace {

template <typename Fn>
void ForEachSpectralNormed(torch::nn::Module& module, Fn fn) {
  if (auto* self = dynamic_cast<SpectralNormed*>(&module)) fn(*self);
  for (const auto& child : module.modules(/*include_self=*/false)) {
    if (auto* layer = dynamic_cast<SpectralNormed*>(child.get())) fn(*layer);
  }
}

}  // namespace

void SetSpectralNormRefinement(torch::nn::Module& module, bool in_forward) {
  ForEachSpectralNormed(module, [&](SpectralNormed& layer) {
    layer.refine_in_forward = in_forward;
  });
}

void RefineSpectralNorm(torch::nn::Module& module, int iterations) {
  ForEachSpectralNormed(module, [&](SpectralNormed& layer) {
    for (int i = 0; i < iterations; ++i) layer.PowerIteration();
  });
}

void RegisterSpectralNormBuffers(torch::nn::Module& module,
                                 const torch::Tensor& weight, int64_t dim,
                                 torch::Tensor* u, torch::Tensor* v) {
  torch::NoGradGuard no_grad;
  const torch::Tensor w = AsMatrix(weight, dim);
  *u = module.register_buffer("weight_u", Normalize(torch::randn({w.size(0)})));
  *v = module.register_buffer("weight_v", Normalize(torch::randn({w.size(1)})));
}

SNConv2dImpl::SNConv2dImpl(SNConvOptions options_)
    : SpectralNormed(0), options(std::move(options_)) {
  reset();
}

void SNConv2dImpl::reset() {
  const int64_t k = options.kernel_size();
  weight_orig = register_parameter(
      "weight_orig",
      torch::empty({options.out_channels(),
                    options.in_channels() / options.groups(), k, k}));
  if (options.bias()) {
    bias = register_parameter("bias", torch::empty({options.out_channels()}));
  }
  DefaultInit(weight_orig, bias);
  RegisterSpectralNormBuffers(*this, weight_orig, 0, &weight_u, &weight_v);
}

torch::Tensor SNConv2dImpl::forward(const torch::Tensor& x) {
  const torch::Tensor weight = NormalizedWeight(is_training());
  const int64_t s = options.stride();
  const int64_t p = options.padding();
  if (options.upsample_input()) {
    TORCH_CHECK(s == 1 && !bias.defined() && options.groups() == 1,
                "upsample_input needs stride 1, no bias and one group");
    return UpsampleConv2d(x, weight, p);
  }
  return torch::conv2d(x, weight, bias, {s, s}, {p, p}, /*dilation=*/{1, 1},
                       options.groups());
}

SNConvTranspose2dImpl::SNConvTranspose2dImpl(SNConvOptions options_)
    : SpectralNormed(1), options(std::move(options_)) {
  reset();
}

void SNConvTranspose2dImpl::reset() {
  const int64_t k = options.kernel_size();
  weight_orig = register_parameter(
      "weight_orig",
      torch::empty({options.in_channels(),
                    options.out_channels() / options.groups(), k, k}));
  if (options.bias()) {
    bias = register_parameter("bias", torch::empty({options.out_channels()}));
  }
  DefaultInit(weight_orig, bias);
  RegisterSpectralNormBuffers(*this, weight_orig, 1, &weight_u, &weight_v);
}

torch::Tensor SNConvTranspose2dImpl::forward(const torch::Tensor& x) {
  const torch::Tensor weight = NormalizedWeight(is_training());
  const int64_t s = options.stride();
  const int64_t p = options.padding();
  return torch::conv_transpose2d(x, weight, bias, {s, s}, {p, p},
                                 /*output_padding=*/{0, 0}, options.groups());
}

SNLinearImpl::SNLinearImpl(int64_t in_features_, int64_t out_features_,
                           bool bias_)
    : SpectralNormed(0),
      in_features(in_features_),
      out_features(out_features_),
      with_bias(bias_) {
  reset();
}

void SNLinearImpl::reset() {
  weight_orig = register_parameter("weight_orig",
                                   torch::empty({out_features, in_features}));
  if (with_bias) {
    bias = register_parameter("bias", torch::empty({out_features}));
  }
  DefaultInit(weight_orig, bias);
  RegisterSpectralNormBuffers(*this, weight_orig, 0, &weight_u, &weight_v);
}

torch::Tensor SNLinearImpl::forward(const torch::Tensor& x) {
  const torch::Tensor weight = NormalizedWeight(is_training());
  return torch::linear(x, weight, bias);
}

}  // namespace pgan::trainer
