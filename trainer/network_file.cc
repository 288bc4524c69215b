#include "trainer/network_file.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "common/safetensors.h"
#include "common/status_macros.h"
#include "trainer/state_dict.h"
#include "trainer/torch_status.h"

namespace pgan::trainer {
namespace {

absl::StatusOr<config::ModelConfig> ConfigFromFile(const SafetensorsFile& file) {
  auto it = file.metadata().find(kNetworkMetadataKey);
  if (it == file.metadata().end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path(), ": no \"", kNetworkMetadataKey,
        "\" key in the safetensors metadata; not a pgan network file (convert "
        "reference pickles with tools/convert_pkl.py)"));
  }
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path(), ": metadata \"", kNetworkMetadataKey,
        "\" is not JSON: ", e.what()));
  }
  return config::ModelConfig::FromJson(json, file.path());
}

}  // namespace

absl::StatusOr<Networks> BuildNetworks(const config::ModelConfig& config,
                                       uint32_t parts) {
  RETURN_IF_ERROR(config.Validate());
  return CatchTorchOr<Networks>("building the networks", [&]() -> absl::StatusOr<Networks> {
    Networks nets;
    nets.config = config;
    if (parts & (kPartG | kPartGEma)) {
      Generator g(config);
      if (parts & kPartG) nets.G = g;
      if (parts & kPartGEma) {
        Generator g_ema(config);
        CopyState(*g, *g_ema);
        g_ema->eval();
        for (torch::Tensor& p : g_ema->parameters()) p.requires_grad_(false);
        nets.G_ema = g_ema;
      }
    }
    if (parts & kPartD) nets.D = ProjectedDiscriminator(config);
    return nets;
  });
}

absl::StatusOr<config::ModelConfig> ReadNetworkConfig(const std::string& path) {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(path));
  return ConfigFromFile(file);
}

absl::StatusOr<Networks> LoadNetworkFile(const std::string& path,
                                         uint32_t parts) {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(path));
  ASSIGN_OR_RETURN(config::ModelConfig config, ConfigFromFile(file));
  ASSIGN_OR_RETURN(Networks nets, BuildNetworks(config, parts));
  RETURN_IF_ERROR(CatchTorch(absl::StrCat("loading ", path), [&]() -> absl::Status {
    if (nets.G) RETURN_IF_ERROR(LoadStateDict(*nets.G, file, "G."));
    if (nets.G_ema) RETURN_IF_ERROR(LoadStateDict(*nets.G_ema, file, "G_ema."));
    if (nets.D) RETURN_IF_ERROR(LoadStateDict(*nets.D, file, "D."));
    return absl::OkStatus();
  }));
  return nets;
}

absl::Status SaveNetworkFile(const std::string& path, const Networks& nets) {
  std::vector<torch::Tensor> keep_alive;
  std::vector<TensorToWrite> tensors;
  RETURN_IF_ERROR(CatchTorch("collecting network state", [&]() -> absl::Status {
    if (nets.G) AppendStateDict(*nets.G, "G.", &keep_alive, &tensors);
    if (nets.G_ema) AppendStateDict(*nets.G_ema, "G_ema.", &keep_alive, &tensors);
    if (nets.D) AppendStateDict(*nets.D, "D.", &keep_alive, &tensors);
    return absl::OkStatus();
  }));
  const std::map<std::string, std::string> metadata = {
      {kNetworkMetadataKey, nets.config.ToJson().dump()}, {"format", "pt"}};
  return WriteSafetensors(path, tensors, metadata);
}

}  // namespace pgan::trainer
