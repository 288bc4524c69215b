#include "trainer/model_config.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace pgan::trainer {
namespace {

bool IsPowerOfTwo(int x) { return x > 0 && (x & (x - 1)) == 0; }

absl::Status FieldError(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// Output side of a TensorFlow-SAME convolution with stride `stride`.
int SameOut(int x, int stride) { return (x + stride - 1) / stride; }

}  // namespace

absl::Status ModelConfig::Validate() const {
  if (cfg != "fastgan" && cfg != "fastgan_lite") {
    return FieldError("cfg", absl::StrCat("expected \"fastgan\" or "
                                          "\"fastgan_lite\", got \"",
                                          cfg, "\""));
  }
  if (!IsPowerOfTwo(resolution) || resolution < 32 || resolution > 1024) {
    return FieldError("resolution",
                      absl::StrCat("expected a power of two from 32 to 1024, "
                                   "got ",
                                   resolution));
  }
  if (z_dim < 1 || z_dim > 4096) {
    return FieldError("z_dim", absl::StrCat("expected 1 to 4096, got ", z_dim));
  }
  if (ngf < 8 || ngf > 1024) {
    return FieldError("ngf", absl::StrCat("expected 8 to 1024, got ", ngf));
  }
  if (img_channels != 3) {
    return FieldError("img_channels",
                      absl::StrCat("expected 3 (the feature network takes RGB; "
                                   "convert grayscale datasets to RGB), got ",
                                   img_channels));
  }
  if (c_dim < 0 || c_dim > 1000) {
    return FieldError("c_dim",
                      absl::StrCat("expected 0 (unconditional) to 1000 classes "
                                   "(the reference's embedding size), got ",
                                   c_dim));
  }
  if (feature_network != "tf_efficientnet_lite0" &&
      feature_network != "tf_efficientnet_lite1") {
    return FieldError("feature_network",
                      absl::StrCat("expected \"tf_efficientnet_lite0\" or "
                                   "\"tf_efficientnet_lite1\", got \"",
                                   feature_network, "\""));
  }
  if (cout < 1 || cout > 1024) {
    return FieldError("cout", absl::StrCat("expected 1 to 1024, got ", cout));
  }
  if (proj_type < 0 || proj_type > 2) {
    return FieldError("proj_type",
                      absl::StrCat("expected 0, 1 or 2, got ", proj_type));
  }
  if (num_discs < 1 || num_discs > 4) {
    return FieldError("num_discs",
                      absl::StrCat("expected 1 to 4, got ", num_discs));
  }
  return absl::OkStatus();
}

nlohmann::json ModelConfig::ToJson() const {
  return nlohmann::json{{"cfg", cfg},
                        {"resolution", resolution},
                        {"z_dim", z_dim},
                        {"ngf", ngf},
                        {"img_channels", img_channels},
                        {"c_dim", c_dim},
                        {"feature_network", feature_network},
                        {"cout", cout},
                        {"expand", expand},
                        {"proj_type", proj_type},
                        {"num_discs", num_discs}};
}

absl::StatusOr<ModelConfig> ModelConfig::FromJson(const nlohmann::json& json,
                                                  const std::string& source) {
  auto error = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
  };
  if (!json.is_object()) return error("model config is not a JSON object");
  ModelConfig config;
  auto get_int = [&](const char* key, int* out) -> absl::Status {
    if (!json.contains(key)) return error(absl::StrCat("missing key \"", key, "\""));
    const nlohmann::json& v = json.at(key);
    if (!v.is_number_integer()) {
      return error(absl::StrCat("\"", key, "\" must be an integer, got ", v.dump()));
    }
    *out = v.get<int>();
    return absl::OkStatus();
  };
  auto get_string = [&](const char* key, std::string* out) -> absl::Status {
    if (!json.contains(key)) return error(absl::StrCat("missing key \"", key, "\""));
    const nlohmann::json& v = json.at(key);
    if (!v.is_string()) {
      return error(absl::StrCat("\"", key, "\" must be a string, got ", v.dump()));
    }
    *out = v.get<std::string>();
    return absl::OkStatus();
  };
  absl::Status status;
  if (!(status = get_string("cfg", &config.cfg)).ok()) return status;
  if (!(status = get_int("resolution", &config.resolution)).ok()) return status;
  if (!(status = get_int("z_dim", &config.z_dim)).ok()) return status;
  if (!(status = get_int("ngf", &config.ngf)).ok()) return status;
  if (!(status = get_int("img_channels", &config.img_channels)).ok()) return status;
  if (!(status = get_int("c_dim", &config.c_dim)).ok()) return status;
  if (!(status = get_string("feature_network", &config.feature_network)).ok()) {
    return status;
  }
  if (!(status = get_int("cout", &config.cout)).ok()) return status;
  if (!json.contains("expand") || !json.at("expand").is_boolean()) {
    return error("\"expand\" must be present and a boolean");
  }
  config.expand = json.at("expand").get<bool>();
  if (!(status = get_int("proj_type", &config.proj_type)).ok()) return status;
  if (!(status = get_int("num_discs", &config.num_discs)).ok()) return status;
  status = config.Validate();
  if (!status.ok()) return error(std::string(status.message()));
  return config;
}

ProjectorGeometry ComputeProjectorGeometry(const ModelConfig& config) {
  ProjectorGeometry g;
  // The reference fixes the trunk resolution to 256 here on purpose, so the
  // number of down-blocks per discriminator does not depend on the dataset.
  g.resolutions = {256 / 4, 256 / 8, 256 / 16, 256 / 32};
  g.channels = {24, 40, 112, 320};  // EfficientNet-Lite0 and Lite1 stages.
  const int c = config.cout;
  if (config.proj_type >= 1) {
    g.channels = config.expand ? std::array<int, 4>{c, 2 * c, 4 * c, 8 * c}
                               : std::array<int, 4>{c, c, c, c};
  }
  if (config.proj_type == 2) {
    g.channels = config.expand ? std::array<int, 4>{c, c, 2 * c, 4 * c}
                               : std::array<int, 4>{c, c, c, c};
    for (int& r : g.resolutions) r *= 2;
  }
  return g;
}

int LogitMapSide(const ModelConfig& config, int k) {
  const ProjectorGeometry geometry = ComputeProjectorGeometry(config);
  // Stage k of the trunk has stride 4 * 2^k; the CSM doubles the size.
  int side = config.interp224() ? 224 : config.resolution;
  side = SameOut(side, 2);  // stem
  side = SameOut(side, 2);  // blocks[1]
  for (int s = 1; s <= k; ++s) side = SameOut(side, 2);
  if (config.proj_type == 2) side *= 2;
  // Down-blocks (4x4, stride 2, pad 1) from the start size down to 8.
  for (int start = geometry.resolutions[k]; start > 8; start /= 2) {
    side = (side + 2 - 4) / 2 + 1;
  }
  return side - 3;  // Final 4x4 convolution, no padding.
}

int LogitsPerImage(const ModelConfig& config) {
  int total = 0;
  for (int k = 0; k < config.num_discs; ++k) {
    const int side = LogitMapSide(config, k);
    total += side * side;
  }
  return total;
}

}  // namespace pgan::trainer
