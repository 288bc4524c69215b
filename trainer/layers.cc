#include "trainer/layers.h"

#include <ATen/ops/sigmoid_backward.h>
#include <torch/csrc/autograd/custom_function.h>

#include <torch/nn/functional/upsampling.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/pooling.h>
#include <torch/nn/modules/utils.h>
#include <torch/nn/modules/container/functional.h>
#include <torch/nn/modules/linear.h>

namespace pgan::trainer {

namespace F = torch::nn::functional;

namespace {

// x[:, :C] * sigmoid(x[:, C:]) as one autograd function that saves only x
// and recomputes the sigmoid in the backward pass: the same operations as
// the separate ops (mul, sigmoid, their backward kernels), so the same
// values, without keeping the sigmoid's output (half of x) alive.
class GluFunction : public torch::autograd::Function<GluFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx,
                               const torch::Tensor& x) {
    ctx->save_for_backward({x});
    const int64_t half = x.size(1) / 2;
    return x.narrow(1, 0, half) * torch::sigmoid(x.narrow(1, half, half));
  }

  static torch::autograd::tensor_list backward(
      torch::autograd::AutogradContext* ctx,
      torch::autograd::tensor_list grad_outputs) {
    const torch::Tensor x = ctx->get_saved_variables()[0];
    const int64_t half = x.size(1) / 2;
    const torch::Tensor a = x.narrow(1, 0, half);
    const torch::Tensor s = torch::sigmoid(x.narrow(1, half, half));
    const torch::Tensor& grad = grad_outputs[0];
    const torch::Tensor grad_a = grad * s;
    const torch::Tensor grad_b = at::sigmoid_backward(grad * a, s);
    return {torch::cat({grad_a, grad_b}, 1)};
  }
};

}  // namespace

torch::Tensor Glu(const torch::Tensor& x) { return GluFunction::apply(x); }

torch::Tensor Swish(const torch::Tensor& x) { return x * torch::sigmoid(x); }

torch::Tensor Upsample2x(const torch::Tensor& x) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .scale_factor(std::vector<double>{2.0, 2.0})
                               .mode(torch::kNearest));
}

torch::Tensor NormalizeSecondMoment(const torch::Tensor& z) {
  return z * (z.square().mean(/*dim=*/1, /*keepdim=*/true) + 1e-8).rsqrt();
}

void NoiseInjectionImpl::reset() {
  weight = register_parameter("weight", torch::zeros({1}));
}

torch::Tensor NoiseInjectionImpl::forward(const torch::Tensor& x) {
  if (!enabled_) return x;
  torch::Tensor noise;
  if (source_ != nullptr) {
    TORCH_CHECK(source_->batch_size() == x.size(0),
                "noise source holds ", source_->batch_size(),
                " samples for a batch of ", x.size(0));
    noise = source_->Normal({1, x.size(2), x.size(3)}, x.options());
  } else {
    noise = torch::randn({x.size(0), 1, x.size(2), x.size(3)}, x.options());
  }
  return x + weight * noise;
}

CCBNImpl::CCBNImpl(int64_t output_size, int64_t input_size) {
  gain = register_module("gain", SNLinear(input_size, output_size, true));
  bias = register_module("bias", SNLinear(input_size, output_size, true));
  stored_mean = register_buffer("stored_mean", torch::zeros({output_size}));
  stored_var = register_buffer("stored_var", torch::ones({output_size}));
}

torch::Tensor CCBNImpl::forward(const torch::Tensor& x, const torch::Tensor& y) {
  const torch::Tensor g = (1 + gain(y)).view({y.size(0), -1, 1, 1});
  const torch::Tensor b = bias(y).view({y.size(0), -1, 1, 1});
  const torch::Tensor out =
      torch::batch_norm(x, /*weight=*/{}, /*bias=*/{}, stored_mean, stored_var,
                        is_training(), /*momentum=*/0.1, /*eps=*/1e-5,
                        /*cudnn_enabled=*/true);
  return out * g + b;
}

InitLayerImpl::InitLayerImpl(int64_t nz, int64_t channel) {
  init = register_module(
      "init", torch::nn::Sequential(
                  SNConvTranspose2d(SNConvOptions(nz, channel * 2, 4).bias(false)),
                  torch::nn::BatchNorm2d(channel * 2),
                  torch::nn::Functional(Glu)));
}

torch::Tensor InitLayerImpl::forward(const torch::Tensor& z) {
  return init->forward(z.view({z.size(0), -1, 1, 1}));
}

namespace {

SNConv2d Conv3x3(int64_t in, int64_t out) {
  return SNConv2d(SNConvOptions(in, out, 3).padding(1).bias(false));
}

// The first conv of an up-block also does the block's 2x upsampling.
SNConv2d UpConv3x3(int64_t in, int64_t out) {
  return SNConv2d(
      SNConvOptions(in, out, 3).padding(1).bias(false).upsample_input(true));
}

}  // namespace

// Index 0 is the reference's nn.Upsample; the conv at index 1 upsamples its
// input itself (saving memory), so 0 is the identity here. Indices, and with
// them the state-dict keys, stay the reference's.
torch::nn::Sequential MakeUpBlockBig(int64_t in_planes, int64_t out_planes) {
  return torch::nn::Sequential(
      torch::nn::Identity(), UpConv3x3(in_planes, out_planes * 2),
      NoiseInjection(), torch::nn::BatchNorm2d(out_planes * 2),
      torch::nn::Functional(Glu), Conv3x3(out_planes, out_planes * 2),
      NoiseInjection(), torch::nn::BatchNorm2d(out_planes * 2),
      torch::nn::Functional(Glu));
}

torch::nn::Sequential MakeUpBlockSmall(int64_t in_planes, int64_t out_planes) {
  return torch::nn::Sequential(
      torch::nn::Identity(), UpConv3x3(in_planes, out_planes * 2),
      torch::nn::BatchNorm2d(out_planes * 2), torch::nn::Functional(Glu));
}

UpBlockBigCondImpl::UpBlockBigCondImpl(int64_t in_planes, int64_t out_planes,
                                       int64_t z_dim) {
  conv1 = register_module("conv1", UpConv3x3(in_planes, out_planes * 2));
  conv2 = register_module("conv2", Conv3x3(out_planes, out_planes * 2));
  bn1 = register_module("bn1", CCBN(2 * out_planes, z_dim));
  bn2 = register_module("bn2", CCBN(2 * out_planes, z_dim));
  noise = register_module("noise", NoiseInjection());
}

torch::Tensor UpBlockBigCondImpl::forward(const torch::Tensor& x,
                                          const torch::Tensor& c) {
  torch::Tensor h = conv1(x);  // Upsamples first.
  h = Glu(bn1(noise(h), c));
  h = conv2(h);
  return Glu(bn2(noise(h), c));
}

UpBlockSmallCondImpl::UpBlockSmallCondImpl(int64_t in_planes,
                                           int64_t out_planes, int64_t z_dim) {
  conv = register_module("conv", UpConv3x3(in_planes, out_planes * 2));
  bn = register_module("bn", CCBN(2 * out_planes, z_dim));
}

torch::Tensor UpBlockSmallCondImpl::forward(const torch::Tensor& x,
                                            const torch::Tensor& c) {
  return Glu(bn(conv(x), c));  // conv upsamples first.
}

SEBlockImpl::SEBlockImpl(int64_t ch_in, int64_t ch_out) {
  main = register_module(
      "main",
      torch::nn::Sequential(
          torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(4)),
          SNConv2d(SNConvOptions(ch_in, ch_out, 4).bias(false)),
          torch::nn::Functional(Swish),
          SNConv2d(SNConvOptions(ch_out, ch_out, 1).bias(false)),
          torch::nn::Sigmoid()));
}

torch::Tensor SEBlockImpl::forward(const torch::Tensor& feat_small,
                                   const torch::Tensor& feat_big) {
  return feat_big * main->forward(feat_small);
}

}  // namespace pgan::trainer
