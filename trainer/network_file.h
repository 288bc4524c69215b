// The reference-compatible network file: one safetensors file whose tensors
// are named G.<key>, G_ema.<key> and D.<key> with the reference's state-dict
// keys, and whose metadata key "pgan" holds the config::ModelConfig as JSON. Made by
// pgan (snapshots, `pgan export`) or by tools/convert_pkl.py from an official
// Projected GAN pickle. Functions only; the returned modules are the
// caller's.
#ifndef PGAN_TRAINER_NETWORK_FILE_H_
#define PGAN_TRAINER_NETWORK_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/model_config.h"
#include "trainer/discriminator.h"
#include "trainer/generator.h"

namespace pgan::trainer {

// The metadata key holding the model config.
inline constexpr char kNetworkMetadataKey[] = "pgan";

struct Networks {
  config::ModelConfig config;
  Generator G{nullptr};      // Training mode.
  Generator G_ema{nullptr};  // Eval mode.
  ProjectedDiscriminator D{nullptr};
};

enum NetworkPart : uint32_t {
  kPartG = 1,
  kPartGEma = 2,
  kPartD = 4,
  kAllParts = kPartG | kPartGEma | kPartD,
};

// Freshly initialised networks; G_ema starts as a copy of G. The feature
// network is random until LoadFeatureNetworkWeights() fills it.
absl::StatusOr<Networks> BuildNetworks(const config::ModelConfig& config,
                                       uint32_t parts = kAllParts);

// Reads the model config from a network file's metadata.
absl::StatusOr<config::ModelConfig> ReadNetworkConfig(const std::string& path);

// Builds the networks named by `parts` and loads them from `path`; every
// tensor of a loaded part must be present with the right shape, and no other
// tensor may appear under its prefix. Errors name the file and the key.
absl::StatusOr<Networks> LoadNetworkFile(const std::string& path,
                                         uint32_t parts = kAllParts);

// Writes every non-null network of `networks` atomically.
absl::Status SaveNetworkFile(const std::string& path, const Networks& networks);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_NETWORK_FILE_H_
