#include "trainer/upsample_conv.h"

#include <ATen/ops/convolution_backward.h>
#include <ATen/ops/upsample_nearest2d.h>
#include <ATen/ops/upsample_nearest2d_backward.h>
#include <torch/csrc/autograd/custom_function.h>

#include "trainer/precision.h"

namespace pgan::trainer {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

constexpr double kScale = 2.0;

// The op F::interpolate(scale_factor=2, mode=nearest) records.
torch::Tensor Upsample(const torch::Tensor& x) {
  return at::upsample_nearest2d(x, {2 * x.size(2), 2 * x.size(3)}, kScale, kScale);
}

class UpsampleConvFunction : public torch::autograd::Function<UpsampleConvFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, int64_t padding) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["padding"] = padding;
    return at::convolution(Upsample(x), weight, /*bias=*/{}, {1, 1},
                           {padding, padding}, {1, 1}, /*transposed=*/false,
                           {0, 0}, /*groups=*/1);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const int64_t padding = ctx->saved_data["padding"].toInt();
    const bool need_x = ctx->needs_input_grad(0);
    const bool need_w = ctx->needs_input_grad(1);
    const torch::Tensor up = Upsample(x);
    // What autograd's ConvolutionBackward0 and UpsampleNearest2DBackward0
    // call for the two separate ops.
    auto grads = at::convolution_backward(
        grad_outputs[0], up, weight, /*bias_sizes=*/c10::nullopt, {1, 1},
        {padding, padding}, {1, 1}, /*transposed=*/false, {0, 0},
        /*groups=*/1, {need_x, need_w, false});
    torch::Tensor grad_x;
    if (need_x) {
      grad_x = at::upsample_nearest2d_backward(std::get<0>(grads), {up.size(2), up.size(3)},
                                               x.sizes(), kScale, kScale);
    }
    return {grad_x, need_w ? std::get<1>(grads) : torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor UpsampleConv2d(const torch::Tensor& x, const torch::Tensor& weight,
                             int64_t padding) {
  // A custom function is below autocast: cast its operands as autocast
  // would cast a convolution's (nothing without --amp).
  return UpsampleConvFunction::apply(AutocastOperand(x), AutocastOperand(weight),
                                     padding);
}

}  // namespace pgan::trainer
