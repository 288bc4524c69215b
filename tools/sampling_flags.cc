#include "tools/sampling_flags.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <optional>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pgan::tools {
namespace {

absl::StatusOr<trainer::NoiseMode> NoiseModeOf(
    const SamplingFlags& flags, const config::ModelConfig& config) {
  const std::string& mode = flags.noise_mode;
  if (mode.empty()) {
    return config.stylegan2() ? trainer::NoiseMode::kConst
                              : trainer::NoiseMode::kRandom;
  }
  if (mode == "random") return trainer::NoiseMode::kRandom;
  if (mode == "none") return trainer::NoiseMode::kNone;
  if (mode == "const") {
    if (!config.stylegan2()) {
      return absl::InvalidArgumentError(
          "--noise-mode const: this network is FastGAN, which stores no "
          "noise; expected random or none");
    }
    return trainer::NoiseMode::kConst;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--noise-mode: expected random, const (StyleGAN2) or none, got \"", mode,
      "\""));
}

}  // namespace

absl::StatusOr<torch::Tensor> ClassLabels(const config::ModelConfig& config,
                                          int class_index, int64_t count,
                                          const torch::Device& device) {
  if (!config.conditional()) {
    if (class_index >= 0) {
      return absl::InvalidArgumentError(
          "--class: this network is unconditional (c_dim 0)");
    }
    return torch::Tensor();
  }
  if (class_index < 0 || class_index >= config.c_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--class: this network is conditional on ", config.c_dim,
        " classes; give a class index from 0 to ", config.c_dim - 1));
  }
  torch::Tensor c = torch::zeros({count, config.c_dim});
  c.select(1, class_index).fill_(1);
  return c.to(device);
}

absl::Status CheckSamplingFlags(const SamplingFlags& flags,
                                const config::ModelConfig& config) {
  RETURN_IF_ERROR(NoiseModeOf(flags, config).status());
  if (!std::isfinite(flags.truncation_psi)) {
    return absl::InvalidArgumentError("--trunc: expected a finite number");
  }
  if (flags.truncation_psi != 1 && !config.stylegan2()) {
    return absl::InvalidArgumentError(
        "--trunc: this network is FastGAN, whose mapping is the identity (no "
        "w_avg to truncate towards); expected 1");
  }
  if (flags.truncation_cutoff < 0) {
    return absl::InvalidArgumentError(
        "--trunc-cutoff: expected the number of ws to truncate (0: all)");
  }
  return absl::OkStatus();
}

absl::Status ApplySamplingFlags(const SamplingFlags& flags,
                                trainer::Generator& g) {
  RETURN_IF_ERROR(CheckSamplingFlags(flags, g->config()));
  ASSIGN_OR_RETURN(const trainer::NoiseMode mode,
                   NoiseModeOf(flags, g->config()));
  g->set_noise_mode(mode);
  g->set_truncation(flags.truncation_psi,
                    flags.truncation_cutoff > 0
                        ? std::optional<int64_t>(flags.truncation_cutoff)
                        : std::nullopt);
  return absl::OkStatus();
}

int ForwardBatch(int requested, const config::ModelConfig& config) {
  if (requested > 0) return requested;
  return config.stylegan2() ? 1 : 16;
}

absl::Status MakeOutputDirectory(absl::string_view flag,
                                 const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat(flag, " ", dir, ": cannot create: ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace pgan::tools
