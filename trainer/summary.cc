#include "trainer/summary.h"

#include <iomanip>
#include <sstream>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pgan::trainer {
namespace {

int64_t CountBuffers(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const torch::Tensor& b : module.buffers()) n += b.numel();
  return n;
}

std::string Shape(int64_t c, int64_t h, int64_t w) {
  return absl::StrCat(c, "x", h, "x", w);
}

std::string WithCommas(int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

void SummarizeFastgan(const Networks& nets, ModelSummary* s) {
  const config::ModelConfig& config = nets.config;
  for (const auto& child : nets.G->synthesis->named_children()) {
    SummaryRow row{absl::StrCat("G.synthesis.", child.key()),
                   CountParameters(*child.value()),
                   CountBuffers(*child.value()), ""};
    const std::string& name = child.key();
    const size_t underscore = name.find('_');
    if (name == "init") {
      row.output = Shape(GeneratorChannels(4, config.ngf), 4, 4);
    } else if (name == "to_big") {
      row.output =
          Shape(config.img_channels, config.resolution, config.resolution);
    } else if (name == "embed") {
      row.output = absl::StrCat(config.z_dim);
    } else if (underscore != std::string::npos) {
      const int r = std::stoi(name.substr(underscore + 1));
      row.output = r > config.resolution
                       ? "(unused)"
                       : Shape(GeneratorChannels(r, config.ngf), r, r);
    }
    s->rows.push_back(std::move(row));
  }
}

// The mapping network, then the synthesis blocks b4 .. bR (each outputs
// its features and the image so far, as the reference's summary shows).
void SummarizeStylegan2(const Networks& nets, ModelSummary* s) {
  const config::ModelConfig& config = nets.config;
  const sg2::MappingNetwork& mapping = nets.G->mapping;
  s->rows.push_back(
      {"G.mapping", CountParameters(*mapping), CountBuffers(*mapping),
       absl::StrCat(nets.G->sg2_synthesis->num_ws(), "x", config.w_dim)});
  sg2::SynthesisOptions options;
  options.channel_base = config.cbase;
  options.channel_max = config.cmax;
  for (const auto& child : nets.G->sg2_synthesis->named_children()) {
    const int64_t r = std::stoi(child.key().substr(1));
    s->rows.push_back(
        {absl::StrCat("G.synthesis.", child.key()),
         CountParameters(*child.value()), CountBuffers(*child.value()),
         absl::StrCat(
             Shape(sg2::SynthesisNetworkImpl::Channels(options, r), r, r), ", ",
             Shape(config.img_channels, r, r))});
  }
}

}  // namespace

int64_t CountParameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const torch::Tensor& p : module.parameters()) n += p.numel();
  return n;
}

ModelSummary Summarize(const Networks& nets) {
  const config::ModelConfig& config = nets.config;
  ModelSummary s;
  s.generator_params = CountParameters(*nets.G);
  s.discriminator_trainable_params = CountParameters(*nets.D->discriminator);
  s.feature_network_params =
      CountParameters(*nets.D->feature_network->pretrained);
  s.projector_params =
      nets.D->feature_network->scratch
          ? CountParameters(*nets.D->feature_network->scratch)
          : 0;
  s.logits_per_image = LogitsPerImage(config);

  // Generator blocks, in forward order, with their output sizes.
  if (config.stylegan2()) {
    SummarizeStylegan2(nets, &s);
  } else {
    SummarizeFastgan(nets, &s);
  }
  // Discriminator: trunk stages, projector, mini discriminators.
  const int input = config.interp224() ? 224 : config.resolution;
  const std::array<int64_t, 4> trunk_channels{24, 40, 112, 320};
  int side = input;
  for (int k = 0; k < 4; ++k) {
    side = (side + 1) / 2;
    if (k == 0) side = (side + 1) / 2;
    auto layer = nets.D->feature_network->pretrained->named_children()[k];
    s.rows.push_back({absl::StrCat("D.feature_network.pretrained.", layer.key()),
                      CountParameters(*layer.value()), CountBuffers(*layer.value()),
                      Shape(trunk_channels[k], side, side)});
  }
  if (nets.D->feature_network->scratch) {
    const ProjectorGeometry g = ComputeProjectorGeometry(config);
    std::string out;
    int first = (input + 3) / 4 * (config.proj_type == 2 ? 2 : 1);
    for (int k = 0; k < 4; ++k) {
      absl::StrAppend(&out, k ? ", " : "", Shape(g.channels[k], first >> k, first >> k));
    }
    s.rows.push_back({"D.feature_network.scratch",
                      CountParameters(*nets.D->feature_network->scratch),
                      CountBuffers(*nets.D->feature_network->scratch), out});
  }
  for (const auto& disc : nets.D->discriminator->mini_discs->items()) {
    const int side = LogitMapSide(config, std::stoi(disc.first));
    s.rows.push_back({absl::StrCat("D.discriminator.mini_discs.", disc.first),
                      CountParameters(*disc.second), CountBuffers(*disc.second),
                      absl::StrCat("logits 1x", side, "x", side)});
  }
  return s;
}

std::string FormatSummary(const ModelSummary& s, const config::ModelConfig& config,
                          bool feature_network_pretrained) {
  std::ostringstream out;
  out << "Projected GAN: cfg " << config.cfg << ", " << config.resolution << "x"
      << config.resolution << ", z_dim " << config.z_dim
      << (config.stylegan2()
              ? absl::StrCat(", w_dim ", config.w_dim, ", cbase ", config.cbase,
                             ", cmax ", config.cmax, ", map_depth ",
                             config.map_depth, config.fp32 ? ", fp32" : "")
              : absl::StrCat(", ngf ", config.ngf))
      << ", "
      << (config.conditional() ? absl::StrCat(config.c_dim, " classes")
                               : std::string("unconditional"))
      << ", feature network " << config.feature_network
      << (config.interp224() ? " (input resized to 224)" : "") << "\n\n";
  out << absl::StrFormat("%-44s %13s %10s  %s\n", "Module", "Parameters",
                         "Buffers", "Output (per image)");
  out << std::string(90, '-') << "\n";
  for (const SummaryRow& row : s.rows) {
    out << absl::StrFormat("%-44s %13s %10s  %s\n", row.name,
                           WithCommas(row.params), WithCommas(row.buffers),
                           row.output);
  }
  out << std::string(90, '-') << "\n";
  out << absl::StrFormat("%-44s %13s\n", "Generator", WithCommas(s.generator_params));
  out << absl::StrFormat("%-44s %13s\n", "Discriminators (trainable)",
                         WithCommas(s.discriminator_trainable_params));
  out << absl::StrFormat("%-44s %13s\n", "Feature network (frozen)",
                         WithCommas(s.feature_network_params));
  out << absl::StrFormat("%-44s %13s\n", "Projector CCM+CSM (frozen, random)",
                         WithCommas(s.projector_params));
  out << absl::StrFormat("%-44s %13d\n", "Logits per image", s.logits_per_image);
  if (!feature_network_pretrained) {
    out << "\nWARNING: the feature network is RANDOMLY INITIALISED. Projected GAN "
           "needs ImageNet features;\n"
           "         pass timm's "
        << config.feature_network
        << " model.safetensors (--feature-weights).\n";
  }
  return out.str();
}

nlohmann::json SummaryToJson(const ModelSummary& s) {
  return nlohmann::json{
      {"generator_params", s.generator_params},
      {"discriminator_trainable_params", s.discriminator_trainable_params},
      {"feature_network_params", s.feature_network_params},
      {"projector_params", s.projector_params},
      {"logits_per_image", s.logits_per_image}};
}

}  // namespace pgan::trainer
