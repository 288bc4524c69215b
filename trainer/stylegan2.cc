#include "trainer/stylegan2.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace pgan::trainer::sg2 {
namespace {

constexpr double kMappingLrMultiplier = 0.01;
constexpr double kWAvgBeta = 0.998;
const std::vector<double> kResampleTaps = {1, 3, 3, 1};

}  // namespace

FullyConnectedLayerImpl::FullyConnectedLayerImpl(int64_t in_features,
                                                 int64_t out_features,
                                                 Activation activation,
                                                 double lr_multiplier,
                                                 double bias_init)
    : activation_(activation),
      weight_gain_(lr_multiplier / std::sqrt(static_cast<double>(in_features))),
      bias_gain_(lr_multiplier) {
  weight = register_parameter(
      "weight", torch::randn({out_features, in_features}) / lr_multiplier);
  bias = register_parameter(
      "bias", torch::full({out_features}, static_cast<float>(bias_init)));
}

torch::Tensor FullyConnectedLayerImpl::forward(const torch::Tensor& x) {
  const torch::Tensor w = weight.to(x.scalar_type()) * weight_gain_;
  torch::Tensor b = bias.to(x.scalar_type());
  if (bias_gain_ != 1) b = b * bias_gain_;
  if (activation_ == Activation::kLinear) {
    return torch::addmm(b.unsqueeze(0), x, w.t());
  }
  return BiasAct(x.matmul(w.t()), b, activation_);
}

MappingNetworkImpl::MappingNetworkImpl(int64_t z_dim, int64_t c_dim,
                                       int64_t w_dim, int64_t num_ws,
                                       int num_layers)
    : z_dim_(z_dim), c_dim_(c_dim), num_ws_(num_ws) {
  TORCH_CHECK(num_layers >= 1, "the mapping network needs a layer");
  const int64_t embed_features = c_dim > 0 ? w_dim : 0;
  if (c_dim > 0) {
    embed_ =
        register_module("embed", FullyConnectedLayer(c_dim, embed_features));
  }
  for (int i = 0; i < num_layers; ++i) {
    const int64_t in = i == 0 ? z_dim + embed_features : w_dim;
    layers_.push_back(
        register_module(absl::StrCat("fc", i),
                        FullyConnectedLayer(in, w_dim, Activation::kLrelu,
                                            kMappingLrMultiplier)));
  }
  w_avg = register_buffer("w_avg", torch::zeros({w_dim}));
}

torch::Tensor MappingNetworkImpl::forward(
    const torch::Tensor& z, const torch::Tensor& c, double truncation_psi,
    std::optional<int64_t> truncation_cutoff, bool update_emas) {
  TORCH_CHECK(z.dim() == 2 && z.size(1) == z_dim_, "latents must be [B, ",
              z_dim_, "], got ", z.sizes());
  auto normalize = [](const torch::Tensor& t) {
    return t * (t.square().mean(/*dim=*/1, /*keepdim=*/true) + 1e-8).rsqrt();
  };
  torch::Tensor x = normalize(z.to(torch::kFloat32));
  if (c_dim_ > 0) {
    TORCH_CHECK(c.defined() && c.dim() == 2 && c.size(0) == z.size(0) &&
                    c.size(1) == c_dim_,
                "a conditional generator needs one-hot labels [B, ", c_dim_,
                "]");
    const torch::Tensor y = normalize(embed_(c.to(torch::kFloat32)));
    x = torch::cat({x, y}, 1);
  }
  for (FullyConnectedLayer& layer : layers_) x = layer(x);
  if (update_emas) {
    torch::NoGradGuard no_grad;
    w_avg.copy_(x.detach().mean(0).lerp(w_avg, kWAvgBeta));
  }
  x = x.unsqueeze(1).repeat({1, num_ws_, 1});
  if (truncation_psi != 1) {
    if (!truncation_cutoff.has_value()) {
      x = w_avg.lerp(x, truncation_psi);
    } else {
      const int64_t n = std::min(*truncation_cutoff, num_ws_);
      x.narrow(1, 0, n).copy_(w_avg.lerp(x.narrow(1, 0, n), truncation_psi));
    }
  }
  return x;
}

SynthesisLayerImpl::SynthesisLayerImpl(int64_t in_channels,
                                       int64_t out_channels, int64_t w_dim,
                                       int64_t resolution, int up,
                                       std::optional<double> conv_clamp)
    : resolution_(resolution), up_(up), conv_clamp_(conv_clamp) {
  resample_filter =
      register_buffer("resample_filter", SetupFilter(kResampleTaps));
  affine = register_module(
      "affine", FullyConnectedLayer(w_dim, in_channels, Activation::kLinear, 1,
                                    /*bias_init=*/1));
  weight = register_parameter("weight",
                              torch::randn({out_channels, in_channels, 3, 3}));
  noise_const =
      register_buffer("noise_const", torch::randn({resolution, resolution}));
  noise_strength = register_parameter("noise_strength", torch::zeros({}));
  bias = register_parameter("bias", torch::zeros({out_channels}));
}

torch::Tensor SynthesisLayerImpl::forward(const torch::Tensor& x,
                                          const torch::Tensor& w,
                                          const NoiseInput& noise_input,
                                          bool fused) {
  const int64_t in_res = resolution_ / up_;
  TORCH_CHECK(x.dim() == 4 && x.size(1) == weight.size(1) &&
                  x.size(2) == in_res && x.size(3) == in_res,
              "synthesis layer: expected [B, ", weight.size(1), ", ", in_res,
              ", ", in_res, "], got ", x.sizes());
  const torch::Tensor styles = affine(w);
  torch::Tensor noise;
  if (noise_input.mode == NoiseMode::kRandom) {
    // float32 noise whatever x is, as the reference's torch.randn.
    const auto options = x.options().dtype(torch::kFloat32);
    noise =
        noise_input.source != nullptr
            ? noise_input.source->Normal({1, resolution_, resolution_}, options)
            : torch::randn({x.size(0), 1, resolution_, resolution_}, options);
    TORCH_CHECK(noise.size(0) == x.size(0), "noise source holds ",
                noise.size(0), " samples for a batch of ", x.size(0));
    noise = noise * noise_strength;
  } else if (noise_input.mode == NoiseMode::kConst) {
    noise = noise_const * noise_strength;
  }
  ModulatedConvOptions o;
  o.noise = noise;
  o.up = up_;
  o.padding = 1;
  o.resample_filter = resample_filter;
  o.flip_weight = up_ == 1;
  o.fused = fused;
  const torch::Tensor y = ModulatedConv2d(x, weight, styles, o);
  return BiasAct(y, bias.to(y.scalar_type()), Activation::kLrelu,
                 DefaultGain(Activation::kLrelu), conv_clamp_);
}

ToRGBLayerImpl::ToRGBLayerImpl(int64_t in_channels, int64_t out_channels,
                               int64_t w_dim, std::optional<double> conv_clamp)
    : weight_gain_(1 / std::sqrt(static_cast<double>(in_channels))),
      conv_clamp_(conv_clamp) {
  affine = register_module(
      "affine", FullyConnectedLayer(w_dim, in_channels, Activation::kLinear, 1,
                                    /*bias_init=*/1));
  weight = register_parameter("weight",
                              torch::randn({out_channels, in_channels, 1, 1}));
  bias = register_parameter("bias", torch::zeros({out_channels}));
}

torch::Tensor ToRGBLayerImpl::forward(const torch::Tensor& x,
                                      const torch::Tensor& w, bool fused) {
  const torch::Tensor styles = affine(w) * weight_gain_;
  ModulatedConvOptions o;
  o.demodulate = false;
  o.fused = fused;
  const torch::Tensor y = ModulatedConv2d(x, weight, styles, o);
  return BiasAct(y, bias.to(y.scalar_type()), Activation::kLinear, std::nullopt,
                 conv_clamp_);
}

SynthesisBlockImpl::SynthesisBlockImpl(int64_t in_channels,
                                       int64_t out_channels, int64_t w_dim,
                                       int64_t resolution, int64_t img_channels,
                                       bool use_fp16,
                                       std::optional<double> conv_clamp)
    : in_channels_(in_channels), resolution_(resolution), use_fp16_(use_fp16) {
  resample_filter_ =
      register_buffer("resample_filter", SetupFilter(kResampleTaps));
  if (in_channels == 0) {
    const_ = register_parameter(
        "const", torch::randn({out_channels, resolution, resolution}));
  } else {
    conv0_ = register_module(
        "conv0", SynthesisLayer(in_channels, out_channels, w_dim, resolution, 2,
                                conv_clamp));
  }
  conv1_ =
      register_module("conv1", SynthesisLayer(out_channels, out_channels, w_dim,
                                              resolution, 1, conv_clamp));
  torgb_ = register_module(
      "torgb", ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp));
}

std::pair<torch::Tensor, torch::Tensor> SynthesisBlockImpl::forward(
    const torch::Tensor& x_in, const torch::Tensor& img_in,
    const torch::Tensor& ws, const NoiseInput& noise) {
  TORCH_CHECK(ws.dim() == 3 && ws.size(1) == num_conv() + num_torgb(),
              "block b", resolution_, ": expected ", num_conv() + num_torgb(),
              " ws, got ", ws.sizes());
  const std::vector<torch::Tensor> w = ws.unbind(1);
  // fp16 only on CUDA, as the reference forces fp32 elsewhere.
  const auto dtype = use_fp16_ && ws.is_cuda() ? torch::kHalf : torch::kFloat32;
  // train.py's fused_modconv_default 'inference_only'.
  const bool fused = !is_training();
  torch::Tensor x;
  if (in_channels_ == 0) {
    x = const_.to(dtype).unsqueeze(0).repeat({ws.size(0), 1, 1, 1});
    x = conv1_(x, w[0], noise, fused);
  } else {
    TORCH_CHECK(x_in.defined() && x_in.size(1) == in_channels_ &&
                    x_in.size(2) == resolution_ / 2,
                "block b", resolution_, ": unexpected input ", x_in.sizes());
    x = x_in.to(dtype);
    x = conv0_(x, w[0], noise, fused);
    x = conv1_(x, w[1], noise, fused);
  }
  torch::Tensor img = img_in;
  if (img.defined()) img = Upsample2d(img, resample_filter_);
  const torch::Tensor y =
      torgb_(x, w[num_conv()], fused).to(torch::kFloat32).contiguous();
  img = img.defined() ? img.add_(y) : y;
  return {x, img};
}

int64_t SynthesisNetworkImpl::Channels(const SynthesisOptions& options,
                                       int64_t res) {
  return std::min(options.channel_base / res, options.channel_max);
}

SynthesisNetworkImpl::SynthesisNetworkImpl(const SynthesisOptions& options)
    : options_(options) {
  const int64_t res = options.img_resolution;
  TORCH_CHECK(res >= 4 && (res & (res - 1)) == 0,
              "the image resolution must be a power of two, got ", res);
  const int log2 = static_cast<int>(std::lround(std::log2(res)));
  const int64_t fp16_resolution = std::max<int64_t>(
      int64_t{1} << std::max(log2 + 1 - options.num_fp16_res, 0), 8);
  for (int64_t r = 4; r <= res; r *= 2) {
    const int64_t in = r > 4 ? Channels(options, r / 2) : 0;
    SynthesisBlock block = register_module(
        absl::StrCat("b", r),
        SynthesisBlock(in, Channels(options, r), options.w_dim, r,
                       options.img_channels, r >= fp16_resolution,
                       options.conv_clamp));
    num_ws_ += block->num_conv();
    if (r == res) num_ws_ += block->num_torgb();
    blocks_.push_back(block);
  }
}

torch::Tensor SynthesisNetworkImpl::forward(const torch::Tensor& ws_in,
                                            const NoiseInput& noise) {
  TORCH_CHECK(ws_in.dim() == 3 && ws_in.size(1) == num_ws_ &&
                  ws_in.size(2) == options_.w_dim,
              "ws must be [B, ", num_ws_, ", ", options_.w_dim, "], got ",
              ws_in.sizes());
  const torch::Tensor ws = ws_in.to(torch::kFloat32);
  torch::Tensor x, img;
  int64_t w_idx = 0;
  for (SynthesisBlock& block : blocks_) {
    const torch::Tensor block_ws =
        ws.narrow(1, w_idx, block->num_conv() + block->num_torgb());
    w_idx += block->num_conv();
    std::tie(x, img) = block->forward(x, img, block_ws, noise);
  }
  return img;
}

}  // namespace pgan::trainer::sg2
