#include "trainer/generator.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace pgan::trainer {
namespace {

// Restores the noise modules' default source when a forward ends, also when
// it throws.
class ScopedNoiseSource {
 public:
  ScopedNoiseSource(const std::vector<NoiseInjection>& modules,
                    SampleRandom* source)
      : modules_(modules) {
    for (NoiseInjection m : modules_) m->set_source(source);
  }
  ~ScopedNoiseSource() {
    for (NoiseInjection m : modules_) m->set_source(nullptr);
  }

 private:
  const std::vector<NoiseInjection>& modules_;
};

}  // namespace

int64_t GeneratorChannels(int resolution, int ngf) {
  double mult = 0;
  switch (resolution) {
    case 2: case 4: mult = 16; break;
    case 8: mult = 8; break;
    case 16: mult = 4; break;
    case 32: case 64: mult = 2; break;
    case 128: mult = 1; break;
    case 256: mult = 0.5; break;
    case 512: mult = 0.25; break;
    case 1024: mult = 0.125; break;
    default: TORCH_CHECK(false, "no generator channels for resolution ", resolution);
  }
  return static_cast<int64_t>(mult * ngf);
}

FastganSynthesisImpl::FastganSynthesisImpl(const config::ModelConfig& config)
    : config_(config) {
  const int ngf = config.ngf;
  auto nfc = [ngf](int r) { return GeneratorChannels(r, ngf); };
  auto make_up = [&](int r) {
    const int64_t in = nfc(r / 2), out = nfc(r);
    const std::string name = absl::StrCat("feat_", r);
    if (!config.conditional()) {
      torch::nn::Sequential seq = register_module(
          name, config.lite() ? MakeUpBlockSmall(in, out) : MakeUpBlockBig(in, out));
      for (const auto& child : seq->children()) {
        if (auto noise = std::dynamic_pointer_cast<NoiseInjectionImpl>(child)) {
          noise_.emplace_back(noise);
        }
      }
      feat_[r] = [seq](const torch::Tensor& x, const torch::Tensor&) mutable {
        return seq->forward(x);
      };
    } else if (config.lite()) {
      UpBlockSmallCond small =
          register_module(name, UpBlockSmallCond(in, out, config.z_dim));
      feat_[r] = [small](const torch::Tensor& x, const torch::Tensor& c) mutable {
        return small->forward(x, c);
      };
    } else {
      UpBlockBigCond big = register_module(name, UpBlockBigCond(in, out, config.z_dim));
      noise_.push_back(big->noise);
      feat_[r] = [big](const torch::Tensor& x, const torch::Tensor& c) mutable {
        return big->forward(x, c);
      };
    }
  };
  auto make_se = [&](int small, int big) {
    se_.emplace(big, register_module(absl::StrCat("se_", big),
                                     SEBlock(nfc(small), nfc(big))));
  };

  // Construction order follows the reference, so that both draw the same
  // random numbers when seeded alike.
  init_ = register_module("init", InitLayer(config.z_dim, nfc(2)));
  for (int r = 8; r <= 256; r *= 2) make_up(r);
  make_se(4, 64);
  make_se(8, 128);
  make_se(16, 256);
  to_big_ = register_module(
      "to_big", SNConv2d(SNConvOptions(nfc(config.resolution),
                                       config.img_channels, 3)
                             .padding(1)
                             .bias(true)));
  if (config.resolution > 256) {
    make_up(512);
    make_se(32, 512);
  }
  if (config.resolution > 512) make_up(1024);
  if (config.conditional()) {
    // The reference's table always has 1000 rows, whatever the class count.
    embed_ = register_module("embed", torch::nn::Embedding(1000, config.z_dim));
  }
}

torch::Tensor FastganSynthesisImpl::Up(int resolution, const torch::Tensor& x,
                                       const torch::Tensor& c) {
  return feat_.at(resolution)(x, c);
}

torch::Tensor FastganSynthesisImpl::forward(const torch::Tensor& z,
                                            const torch::Tensor& c) {
  torch::Tensor e;
  if (config_.conditional()) {
    TORCH_CHECK(c.defined() && c.dim() == 2 && c.size(0) == z.size(0),
                "a conditional generator needs one-hot labels [B, c_dim]");
    e = embed_(c.argmax(1));
  }
  const int res = config_.resolution;
  const torch::Tensor feat_4 = init_(NormalizeSecondMoment(z));
  const torch::Tensor feat_8 = Up(8, feat_4, e);
  const torch::Tensor feat_16 = Up(16, feat_8, e);
  const torch::Tensor feat_32 = Up(32, feat_16, e);
  // Below 128 px (pgan's extension) the image comes from the first feature
  // map of the target size; the reference always runs up to 128.
  if (res == 32) return to_big_(feat_32);
  const torch::Tensor feat_64 = se_.at(64)(feat_4, Up(64, feat_32, e));
  if (res == 64) return to_big_(feat_64);
  torch::Tensor last = se_.at(128)(feat_8, Up(128, feat_64, e));
  if (res >= 256) last = se_.at(256)(feat_16, Up(256, last, e));
  if (res >= 512) last = se_.at(512)(feat_32, Up(512, last, e));
  if (res >= 1024) last = Up(1024, last, e);
  return to_big_(last);
}

GeneratorImpl::GeneratorImpl(const config::ModelConfig& config) : config_(config) {
  if (!config.stylegan2()) {
    synthesis = register_module("synthesis", FastganSynthesis(config));
    return;
  }
  // Synthesis first, then mapping: the reference's construction order.
  sg2::SynthesisOptions options;
  options.w_dim = config.w_dim;
  options.img_resolution = config.resolution;
  options.img_channels = config.img_channels;
  options.channel_base = config.cbase;
  options.channel_max = config.cmax;
  options.num_fp16_res = config.fp32 ? 0 : 4;
  options.conv_clamp = config.fp32 ? std::nullopt : std::optional<double>(256);
  sg2_synthesis = register_module("synthesis", sg2::SynthesisNetwork(options));
  mapping = register_module(
      "mapping",
      sg2::MappingNetwork(config.z_dim, config.c_dim, config.w_dim,
                          sg2_synthesis->num_ws(), config.map_depth));
}

torch::nn::Module& GeneratorImpl::synthesis_module() {
  if (synthesis) return *synthesis;
  return *sg2_synthesis;
}

torch::Tensor GeneratorImpl::forward(const torch::Tensor& z,
                                     const torch::Tensor& c,
                                     SampleRandom* noise, bool update_emas) {
  return Synthesize(Map(z, c, update_emas), c, noise);
}

torch::Tensor GeneratorImpl::Map(const torch::Tensor& z, const torch::Tensor& c,
                                 bool update_emas) {
  TORCH_CHECK(z.dim() == 2 && z.size(1) == config_.z_dim,
              "latents must be [B, ", config_.z_dim, "], got ", z.sizes());
  if (!stylegan2()) return z;
  return mapping->forward(z, c, truncation_psi_, truncation_cutoff_,
                          update_emas);
}

torch::Tensor GeneratorImpl::Synthesize(const torch::Tensor& w,
                                        const torch::Tensor& c,
                                        SampleRandom* noise) {
  if (stylegan2()) {
    return sg2_synthesis->forward(w, sg2::NoiseInput{noise_mode_, noise});
  }
  ScopedNoiseSource scope(synthesis->noise_modules(), noise);
  return synthesis->forward(w, c);
}

void GeneratorImpl::set_noise_mode(NoiseMode mode) {
  TORCH_CHECK(mode != NoiseMode::kConst || stylegan2(),
              "noise mode const needs a StyleGAN2 generator (FastGAN has no "
              "stored noise)");
  noise_mode_ = mode;
  if (stylegan2()) return;
  for (NoiseInjection m : synthesis->noise_modules()) {
    m->set_enabled(mode == NoiseMode::kRandom);
  }
}

void GeneratorImpl::set_truncation(double psi, std::optional<int64_t> cutoff) {
  TORCH_CHECK(psi == 1 || stylegan2(),
              "truncation needs a StyleGAN2 generator (FastGAN has no mapping "
              "network)");
  truncation_psi_ = psi;
  truncation_cutoff_ = cutoff;
}

}  // namespace pgan::trainer
