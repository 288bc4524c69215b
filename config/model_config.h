// The architecture of a Projected GAN: everything needed to rebuild G, G_ema
// and D, and nothing about how they are trained. Stored as JSON in the
// metadata of every network file; its fields are rows of the option table
// (config/fields.h), which holds their names, defaults' documentation and
// rules. A plain value type; not synchronised.
#ifndef PGAN_CONFIG_MODEL_CONFIG_H_
#define PGAN_CONFIG_MODEL_CONFIG_H_

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pgan::config {

struct ModelConfig {
  // Generator: "fastgan" (UpBlockBig: two convs with noise injection per
  // block), "fastgan_lite" (UpBlockSmall: one conv, no noise) or
  // "stylegan2" (mapping network and modulated convolutions; its
  // discriminators use separable convolutions, as the reference's).
  std::string cfg = "fastgan";
  // Image side in pixels: a power of two in [32, 1024]. The reference stops
  // at 128; 32 and 64 are pgan's extension (see trainer/README.md). 0 only
  // in a training configuration before its dataset is opened: the
  // dataset's (TrainingConfig's default).
  int resolution = 256;
  // Latent size: the reference's are 256 for FastGAN and 64 for StyleGAN2.
  // 0 only in a training configuration: the cfg's (ResolveCfgDefaults).
  int z_dim = 256;
  // Generator width: channels at 128 px (nfc[r] = mult[r] * ngf). The
  // reference uses 128; 64 halves G's memory. At least 8.
  int ngf = 128;
  // Image channels. The feature network takes RGB, so this must be 3.
  int img_channels = 3;
  // Number of classes for conditional models, 0 for unconditional. The
  // class embeddings always have 1000 rows, as in the reference.
  int c_dim = 0;
  // timm name of the frozen feature network: "tf_efficientnet_lite0" (the
  // reference code's choice) or "tf_efficientnet_lite1" (the paper's).
  std::string feature_network = "tf_efficientnet_lite0";
  // Projector: CCM output width of the first stage (doubling per stage when
  // `expand`), and 0 = raw features, 1 = CCM, 2 = CCM + CSM.
  int cout = 64;
  bool expand = true;
  int proj_type = 2;
  // Discriminators on the first `num_discs` feature scales (1 to 4).
  int num_discs = 4;
  // StyleGAN2 only (the reference's train.py values): the intermediate
  // latent size, channels min(cbase / res, cmax) per resolution, mapping
  // layers, and fp32 everywhere with no clamping of convolution outputs
  // (otherwise the 4 highest resolutions compute in fp16 on CUDA and
  // convolution outputs are clamped to +-256 on every device).
  int w_dim = 128;
  int cbase = 32768;
  int cmax = 512;
  int map_depth = 2;
  bool fp32 = false;

  // The default model with another resolution.
  static ModelConfig WithResolution(int resolution) {
    ModelConfig config;
    config.resolution = resolution;
    return config;
  }
  // A training configuration's model: the resolution is the dataset's and
  // the latent size the cfg's until they are resolved.
  static ModelConfig Unresolved() {
    ModelConfig config = WithResolution(0);
    config.z_dim = 0;
    return config;
  }
  // The cfg's latent size where z_dim is 0.
  void ResolveCfgDefaults() {
    if (z_dim == 0) z_dim = stylegan2() ? 64 : 256;
  }

  // Checks every field against its rule; the message names the field by its
  // JSON key ("resolution: expected ..."). A model to build has a
  // resolution and a latent size: 0 is refused here.
  absl::Status Validate() const;

  bool conditional() const { return c_dim > 0; }
  // Datasets below 224 px are resized to 224 before the feature network.
  bool interp224() const { return resolution < 224; }
  bool lite() const { return cfg == "fastgan_lite"; }
  bool stylegan2() const { return cfg == "stylegan2"; }
  // The reference's use_separable_discs: on for StyleGAN2 only.
  bool separable_discs() const { return stylegan2(); }

  // The JSON stored under "pgan" in a network file's metadata: every field.
  nlohmann::json ToJson() const;
  // Parses and validates. Every field must be present (a network file is
  // complete) except those added after network files existed, which take
  // their defaults (Field::absent_in_older_files); unknown keys are ignored.
  // `source` (a file name) prefixes every message.
  static absl::StatusOr<ModelConfig> FromJson(const nlohmann::json& json,
                                              const std::string& source);
};

}  // namespace pgan::config

#endif  // PGAN_CONFIG_MODEL_CONFIG_H_
