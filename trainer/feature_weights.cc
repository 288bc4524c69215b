#include "trainer/feature_weights.h"

#include <map>
#include <set>

#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/safetensors.h"
#include "common/status_macros.h"
#include "trainer/state_dict.h"
#include "trainer/torch_status.h"

namespace pgan::trainer {

absl::Status LoadFeatureNetworkWeights(EfficientNetTrunkImpl& trunk,
                                       const std::string& path) {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(path));
  return CatchTorch(absl::StrCat("loading ", path), [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    std::map<std::string, torch::Tensor> state;
    for (auto& [key, tensor] : StateDict(trunk)) state.emplace(key, tensor);
    std::set<std::string> loaded;
    // Everything is checked before anything is copied.
    std::vector<std::pair<torch::Tensor, const TensorEntry*>> plan;
    for (const TensorEntry& entry : file.tensors()) {
      const std::string key = TimmKeyToTrunkKey(entry.name);
      if (key.empty()) continue;  // conv_head, bn2, classifier: not used.
      auto it = state.find(key);
      if (it == state.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": unexpected key \"", entry.name,
            "\": these are not ", "weights of the configured feature network "
            "(tf_efficientnet_lite0 and lite1 differ in depth)"));
      }
      torch::Tensor& dst = it->second;
      if (torch::IntArrayRef(entry.shape) != dst.sizes()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": key \"", entry.name, "\" has shape [",
            absl::StrJoin(entry.shape, ", "), "], expected [",
            absl::StrJoin(dst.sizes(), ", "), "]"));
      }
      plan.emplace_back(dst, &entry);
      loaded.insert(key);
    }
    for (const auto& [key, tensor] : state) {
      if (loaded.count(key) || absl::EndsWith(key, "num_batches_tracked")) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": missing key \"", TrunkKeyToTimmKey(key),
          "\" (timm's tf_efficientnet_lite weights expected)"));
    }
    for (auto& [tensor, entry] : plan) tensor.copy_(TensorFromEntry(*entry));
    ReplayReferenceChannelProbe(trunk);
    return absl::OkStatus();
  });
}

}  // namespace pgan::trainer
