#include "trainer/efficientnet.h"

#include <cmath>
#include <vector>

#include <torch/nn/functional/padding.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pgan::trainer {
namespace {

namespace F = torch::nn::functional;

// One timm stage: block type, kernel, stride of its first block, output
// channels. Repeats depend on the variant.
struct StageSpec {
  bool inverted_residual;
  int64_t kernel, stride, out;
};
constexpr StageSpec kStages[7] = {
    {false, 3, 1, 16},  {true, 3, 2, 24},  {true, 5, 2, 40},
    {true, 3, 2, 80},   {true, 5, 1, 112}, {true, 5, 2, 192},
    {true, 3, 1, 320},
};
// Lite1 is depth multiplier 1.1 (ceil), first and last stage fixed.
constexpr int kRepeatsLite0[7] = {1, 2, 2, 3, 3, 4, 1};
constexpr int kRepeatsLite1[7] = {1, 3, 3, 4, 4, 5, 1};
constexpr int64_t kStemChannels = 32;
constexpr double kBnEps = 1e-3;

int64_t SamePadTotal(int64_t x, int64_t k, int64_t s) {
  return std::max<int64_t>((((x + s - 1) / s) - 1) * s + k - x, 0);
}

torch::nn::BatchNorm2d TfBatchNorm(int64_t channels) {
  return torch::nn::BatchNorm2d(
      torch::nn::BatchNorm2dOptions(channels).eps(kBnEps));
}

// nn.ReLU6 is hardtanh(0, 6); clamp would differ in the gradient at the edges.
// LibTorch 1.13 has no bf16 hardtanh backward on the CPU (--amp bf16 there),
// so bf16 inputs on a CPU take it in fp32 and come back as bf16.
torch::Tensor Relu6(const torch::Tensor& x) {
  if (x.scalar_type() == torch::kBFloat16 && x.device().is_cpu()) {
    return torch::hardtanh(x.to(torch::kFloat), 0, 6).to(torch::kBFloat16);
  }
  return torch::hardtanh(x, 0, 6);
}

// make_divisible(v, 8) as timm: round to the nearest multiple of 8, but not
// below 90% of v.
int64_t MakeDivisible(double v, int64_t divisor = 8) {
  int64_t out = std::max<int64_t>(
      divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (out < 0.9 * v) out += divisor;
  return out;
}

Stack MakeStage(int index, int repeats, int64_t* channels) {
  Stack stage;
  const StageSpec& spec = kStages[index];
  for (int i = 0; i < repeats; ++i) {
    const int64_t stride = i == 0 ? spec.stride : 1;
    if (spec.inverted_residual) {
      stage->push_back(InvertedResidual(*channels, spec.out, spec.kernel, stride));
    } else {
      stage->push_back(DepthwiseSeparable(*channels, spec.out, spec.kernel, stride));
    }
    *channels = spec.out;
  }
  return stage;
}

}  // namespace

SameConv2dImpl::SameConv2dImpl(int64_t in_, int64_t out_, int64_t kernel_,
                               int64_t stride_, int64_t groups_)
    : in(in_), out(out_), kernel(kernel_), stride(stride_), groups(groups_) {
  reset();
}

void SameConv2dImpl::reset() {
  weight = register_parameter("weight",
                              torch::empty({out, in / groups, kernel, kernel}));
  // timm's initialisation for EfficientNets (used only without pretrained
  // weights): N(0, sqrt(2 / fan_out)).
  torch::NoGradGuard no_grad;
  const double fan_out = static_cast<double>(kernel * kernel * out / groups);
  weight.normal_(0, std::sqrt(2.0 / fan_out));
}

torch::Tensor SameConv2dImpl::forward(const torch::Tensor& x) {
  const int64_t pad_h = SamePadTotal(x.size(2), kernel, stride);
  const int64_t pad_w = SamePadTotal(x.size(3), kernel, stride);
  torch::Tensor input = x;
  std::vector<int64_t> padding{0, 0};
  if (pad_h % 2 == 0 && pad_w % 2 == 0) {
    padding = {pad_h / 2, pad_w / 2};  // Symmetric: let the conv pad.
  } else {
    input = F::pad(x, F::PadFuncOptions({pad_w / 2, pad_w - pad_w / 2,
                                         pad_h / 2, pad_h - pad_h / 2}));
  }
  return torch::conv2d(input, weight, /*bias=*/{}, {stride, stride}, padding,
                       /*dilation=*/{1, 1}, groups);
}

DepthwiseSeparableImpl::DepthwiseSeparableImpl(int64_t in, int64_t out,
                                               int64_t kernel, int64_t stride)
    : residual(stride == 1 && in == out) {
  conv_dw = register_module("conv_dw", SameConv2d(in, in, kernel, stride, in));
  bn1 = register_module("bn1", TfBatchNorm(in));
  conv_pw = register_module("conv_pw", SameConv2d(in, out, 1, 1, 1));
  bn2 = register_module("bn2", TfBatchNorm(out));
}

torch::Tensor DepthwiseSeparableImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = Relu6(bn1(conv_dw(x)));
  h = bn2(conv_pw(h));
  return residual ? h + x : h;
}

InvertedResidualImpl::InvertedResidualImpl(int64_t in, int64_t out,
                                           int64_t kernel, int64_t stride)
    : residual(stride == 1 && in == out) {
  const int64_t mid = MakeDivisible(in * 6.0);
  conv_pw = register_module("conv_pw", SameConv2d(in, mid, 1, 1, 1));
  bn1 = register_module("bn1", TfBatchNorm(mid));
  conv_dw = register_module("conv_dw", SameConv2d(mid, mid, kernel, stride, mid));
  bn2 = register_module("bn2", TfBatchNorm(mid));
  conv_pwl = register_module("conv_pwl", SameConv2d(mid, out, 1, 1, 1));
  bn3 = register_module("bn3", TfBatchNorm(out));
}

torch::Tensor InvertedResidualImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = Relu6(bn1(conv_pw(x)));
  h = Relu6(bn2(conv_dw(h)));
  h = bn3(conv_pwl(h));
  return residual ? h + x : h;
}

EfficientNetTrunkImpl::EfficientNetTrunkImpl(const std::string& name) {
  TORCH_CHECK(name == "tf_efficientnet_lite0" || name == "tf_efficientnet_lite1",
              "unknown feature network ", name);
  const int* repeats =
      name == "tf_efficientnet_lite0" ? kRepeatsLite0 : kRepeatsLite1;
  int64_t channels = kStemChannels;
  Stack stages[7];
  // Built stem first, then blocks in order, as timm does.
  SameConv2d conv_stem(3, kStemChannels, 3, 2, 1);
  torch::nn::BatchNorm2d bn1 = TfBatchNorm(kStemChannels);
  for (int i = 0; i < 7; ++i) stages[i] = MakeStage(i, repeats[i], &channels);

  layer0 = register_module(
      "layer0", torch::nn::Sequential(conv_stem, bn1,
                                      torch::nn::Functional(Relu6), stages[0],
                                      stages[1]));
  layer1 = register_module("layer1", torch::nn::Sequential(stages[2]));
  layer2 = register_module("layer2", torch::nn::Sequential(stages[3], stages[4]));
  layer3 = register_module("layer3", torch::nn::Sequential(stages[5], stages[6]));
}

std::array<torch::Tensor, 4> EfficientNetTrunkImpl::forward(
    const torch::Tensor& x) {
  std::array<torch::Tensor, 4> out;
  out[0] = layer0->forward(x);
  out[1] = layer1->forward(out[0]);
  out[2] = layer2->forward(out[1]);
  out[3] = layer3->forward(out[2]);
  return out;
}

void ReplayReferenceChannelProbe(EfficientNetTrunkImpl& trunk) {
  torch::NoGradGuard no_grad;
  const bool was_training = trunk.is_training();
  trunk.train(true);
  const torch::Tensor probe = torch::zeros(
      {1, 3, 224, 224}, torch::TensorOptions().device(
                            trunk.layer0->parameters().front().device()));
  trunk.forward(probe);
  trunk.train(was_training);
}

std::string TimmKeyToTrunkKey(const std::string& timm_key) {
  std::vector<std::string> parts = absl::StrSplit(timm_key, '.');
  if (parts.empty()) return "";
  const std::string rest =
      timm_key.substr(std::min(timm_key.size(), parts[0].size() + 1));
  if (parts[0] == "conv_stem") return absl::StrCat("layer0.0.", rest);
  if (parts[0] == "bn1") return absl::StrCat("layer0.1.", rest);
  if (parts[0] != "blocks" || parts.size() < 3) return "";
  int block = -1;
  if (!absl::SimpleAtoi(parts[1], &block)) return "";
  const std::string tail = timm_key.substr(parts[0].size() + parts[1].size() + 2);
  switch (block) {
    case 0: return absl::StrCat("layer0.3.", tail);
    case 1: return absl::StrCat("layer0.4.", tail);
    case 2: return absl::StrCat("layer1.0.", tail);
    case 3: return absl::StrCat("layer2.0.", tail);
    case 4: return absl::StrCat("layer2.1.", tail);
    case 5: return absl::StrCat("layer3.0.", tail);
    case 6: return absl::StrCat("layer3.1.", tail);
    default: return "";
  }
}

std::string TrunkKeyToTimmKey(const std::string& trunk_key) {
  static const std::pair<const char*, const char*> kPrefixes[] = {
      {"layer0.0.", "conv_stem."}, {"layer0.1.", "bn1."},
      {"layer0.3.", "blocks.0."},  {"layer0.4.", "blocks.1."},
      {"layer1.0.", "blocks.2."},  {"layer2.0.", "blocks.3."},
      {"layer2.1.", "blocks.4."},  {"layer3.0.", "blocks.5."},
      {"layer3.1.", "blocks.6."},
  };
  for (const auto& [ours, timm] : kPrefixes) {
    const std::string prefix(ours);
    if (trunk_key.compare(0, prefix.size(), prefix) == 0) {
      return timm + trunk_key.substr(prefix.size());
    }
  }
  return "";
}

}  // namespace pgan::trainer
