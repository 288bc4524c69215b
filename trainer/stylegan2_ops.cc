#include "trainer/stylegan2_ops.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace pgan::trainer::sg2 {
namespace {

// Python's floor division, which the reference's padding arithmetic uses.
int FloorDiv(int a, int b) {
  const int q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// conv2d_resample._conv2d_wrapper: conv2d correlates, so a convolution
// (flip_weight false) flips the kernel first.
torch::Tensor Conv2dWrapper(const torch::Tensor& x, torch::Tensor w,
                            int64_t stride, std::vector<int64_t> padding,
                            int64_t groups, bool transpose, bool flip_weight) {
  if (!flip_weight && (w.size(2) > 1 || w.size(3) > 1)) w = w.flip({2, 3});
  if (transpose) {
    return torch::conv_transpose2d(x, w, /*bias=*/torch::Tensor(),
                                   {stride, stride}, padding,
                                   /*output_padding=*/{0, 0}, groups);
  }
  return torch::conv2d(x, w, /*bias=*/torch::Tensor(), {stride, stride},
                       at::IntArrayRef(padding),
                       /*dilation=*/{1, 1}, groups);
}

}  // namespace

torch::Tensor SetupFilter(const std::vector<double>& taps) {
  TORCH_CHECK(!taps.empty() && taps.size() < 8,
              "a separable filter (8 taps or more) is not supported");
  torch::Tensor f = torch::tensor(taps, torch::kFloat32);
  f = torch::outer(f, f);
  f /= f.sum();
  return f;
}

torch::Tensor Upfirdn2d(const torch::Tensor& x_in, const torch::Tensor& f_in,
                        int up, int down, const Padding& p, double gain,
                        bool flip_filter) {
  TORCH_CHECK(x_in.dim() == 4, "upfirdn2d: x must be [B, C, H, W]");
  torch::Tensor f =
      f_in.defined()
          ? f_in
          : torch::ones({1, 1}, x_in.options().dtype(torch::kFloat32));
  TORCH_CHECK(f.dim() == 2 && f.scalar_type() == torch::kFloat32,
              "upfirdn2d: the filter must be 2-D float32");
  const int64_t b = x_in.size(0), c = x_in.size(1), h = x_in.size(2),
                w = x_in.size(3);
  TORCH_CHECK(
      w * up + p.x0 + p.x1 >= f.size(1) && h * up + p.y0 + p.y1 >= f.size(0),
      "upfirdn2d: the upsampled input is smaller than the filter");

  // Upsample by inserting zeros.
  torch::Tensor x = x_in.reshape({b, c, h, 1, w, 1});
  x = torch::constant_pad_nd(x, {0, up - 1, 0, 0, 0, up - 1});
  x = x.reshape({b, c, h * up, w * up});

  // Pad or crop.
  x = torch::constant_pad_nd(x, {std::max(p.x0, 0), std::max(p.x1, 0),
                                 std::max(p.y0, 0), std::max(p.y1, 0)});
  x = x.slice(2, std::max(-p.y0, 0), x.size(2) - std::max(-p.y1, 0))
          .slice(3, std::max(-p.x0, 0), x.size(3) - std::max(-p.x1, 0));

  // Convolve with the (flipped) filter, one group per channel.
  f = f * std::pow(gain, f.dim() / 2.0);
  f = f.to(x.scalar_type());
  if (!flip_filter) f = f.flip({0, 1});
  f = f.unsqueeze(0).unsqueeze(0).repeat({c, 1, 1, 1});
  x = torch::conv2d(x, f, /*bias=*/torch::Tensor(), /*stride=*/{1, 1},
                    /*padding=*/at::IntArrayRef({0, 0}), /*dilation=*/{1, 1},
                    /*groups=*/c);

  // Downsample by throwing away pixels.
  return x.slice(2, 0, x.size(2), down).slice(3, 0, x.size(3), down);
}

torch::Tensor Upsample2d(const torch::Tensor& x, const torch::Tensor& f,
                         int up) {
  const int fw = static_cast<int>(f.size(1)), fh = static_cast<int>(f.size(0));
  const Padding p{FloorDiv(fw + up - 1, 2), FloorDiv(fw - up, 2),
                  FloorDiv(fh + up - 1, 2), FloorDiv(fh - up, 2)};
  return Upfirdn2d(x, f, up, /*down=*/1, p, /*gain=*/up * up);
}

double DefaultGain(Activation act) {
  return act == Activation::kLrelu ? std::sqrt(2.0) : 1.0;
}

torch::Tensor BiasAct(const torch::Tensor& x_in, const torch::Tensor& b,
                      Activation act, std::optional<double> gain,
                      std::optional<double> clamp) {
  torch::Tensor x = x_in;
  if (b.defined()) {
    TORCH_CHECK(b.dim() == 1 && b.size(0) == x.size(1),
                "bias_act: the bias must have one value per channel");
    std::vector<int64_t> shape(x.dim(), 1);
    shape[1] = -1;
    x = x + b.reshape(shape);
  }
  if (act == Activation::kLrelu) x = torch::leaky_relu(x, 0.2);
  const double g = gain.value_or(DefaultGain(act));
  if (g != 1) x = x * g;
  if (clamp.has_value() && *clamp >= 0) x = x.clamp(-*clamp, *clamp);
  return x;
}

torch::Tensor Conv2dResample(const torch::Tensor& x, const torch::Tensor& w_in,
                             const torch::Tensor& f, int up, int padding,
                             int64_t groups, bool flip_weight) {
  TORCH_CHECK(up == 1 || up == 2, "conv2d_resample: up must be 1 or 2");
  torch::Tensor w = w_in;
  const int64_t out_channels = w.size(0), in_per_group = w.size(1);
  const int kh = static_cast<int>(w.size(2)), kw = static_cast<int>(w.size(3));
  const int fw = f.defined() ? static_cast<int>(f.size(1)) : 1;
  const int fh = f.defined() ? static_cast<int>(f.size(0)) : 1;
  int px0 = padding, px1 = padding, py0 = padding, py1 = padding;
  if (up > 1) {
    px0 += FloorDiv(fw + up - 1, 2);
    px1 += FloorDiv(fw - up, 2);
    py0 += FloorDiv(fh + up - 1, 2);
    py1 += FloorDiv(fh - up, 2);
  }
  if (up > 1 && kw == 1 && kh == 1) {
    // Convolve first, then upsample.
    const torch::Tensor y =
        Conv2dWrapper(x, w, 1, {0, 0}, groups, false, flip_weight);
    return Upfirdn2d(y, f, up, 1, {px0, px1, py0, py1}, up * up);
  }
  if (up > 1) {
    // A transposed strided convolution, then the filter.
    if (groups == 1) {
      w = w.transpose(0, 1);
    } else {
      w = w.reshape({groups, out_channels / groups, in_per_group, kh, kw})
              .transpose(1, 2)
              .reshape({groups * in_per_group, out_channels / groups, kh, kw});
    }
    px0 -= kw - 1;
    px1 -= kw - up;
    py0 -= kh - 1;
    py1 -= kh - up;
    const int pxt = std::max(std::min(-px0, -px1), 0);
    const int pyt = std::max(std::min(-py0, -py1), 0);
    const torch::Tensor y = Conv2dWrapper(x, w, up, {pyt, pxt}, groups,
                                          /*transpose=*/true, !flip_weight);
    return Upfirdn2d(y, f, 1, 1, {px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt},
                     up * up);
  }
  TORCH_CHECK(px0 >= 0 && py0 >= 0,
              "conv2d_resample: negative padding is not supported");
  return Conv2dWrapper(x, w, 1, {py0, px0}, groups, false, flip_weight);
}

torch::Tensor ModulatedConv2d(torch::Tensor x, torch::Tensor weight,
                              torch::Tensor styles,
                              const ModulatedConvOptions& o) {
  const int64_t batch = x.size(0);
  const int64_t in_channels = weight.size(1);
  const int64_t kh = weight.size(2), kw = weight.size(3);
  TORCH_CHECK(x.dim() == 4 && x.size(1) == in_channels,
              "modulated_conv2d: x must be [B, ", in_channels, ", H, W], got ",
              x.sizes());
  TORCH_CHECK(styles.dim() == 2 && styles.size(0) == batch &&
                  styles.size(1) == in_channels,
              "modulated_conv2d: styles must be [", batch, ", ", in_channels,
              "], got ", styles.sizes());

  // Pre-normalise the inputs against fp16 overflow (GPU only).
  if (x.scalar_type() == torch::kHalf && o.demodulate) {
    const double scale =
        1 / std::sqrt(static_cast<double>(in_channels * kh * kw));
    const double inf = std::numeric_limits<double>::infinity();
    weight = weight * (weight.norm(inf, {1, 2, 3}, true).reciprocal() * scale);
    styles = styles / styles.norm(inf, {1}, true);
  }

  torch::Tensor w, dcoefs;
  if (o.demodulate || o.fused) {
    w = weight.unsqueeze(0) * styles.reshape({batch, 1, -1, 1, 1});
  }
  if (o.demodulate) dcoefs = (w.square().sum({2, 3, 4}) + 1e-8).rsqrt();
  if (o.demodulate && o.fused) w = w * dcoefs.reshape({batch, -1, 1, 1, 1});

  if (!o.fused) {
    const auto dtype = x.scalar_type();
    x = x * styles.to(dtype).reshape({batch, -1, 1, 1});
    x = Conv2dResample(x, weight.to(dtype), o.resample_filter, o.up, o.padding,
                       1, o.flip_weight);
    if (o.demodulate && o.noise.defined()) {
      return torch::addcmul(o.noise.to(dtype), x,
                            dcoefs.to(dtype).reshape({batch, -1, 1, 1}));
    }
    if (o.demodulate) return x * dcoefs.to(dtype).reshape({batch, -1, 1, 1});
    if (o.noise.defined()) return x.add_(o.noise.to(dtype));
    return x;
  }

  x = x.reshape({1, -1, x.size(2), x.size(3)});
  w = w.reshape({-1, in_channels, kh, kw});
  x = Conv2dResample(x, w.to(x.scalar_type()), o.resample_filter, o.up,
                     o.padding, batch, o.flip_weight);
  x = x.reshape({batch, -1, x.size(2), x.size(3)});
  if (o.noise.defined()) x = x.add_(o.noise);
  return x;
}

}  // namespace pgan::trainer::sg2
