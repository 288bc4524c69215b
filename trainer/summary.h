// The model summary a user sees before training: parameter counts per block
// and the output shape of each, plus the totals `pgan summary --json`
// prints. Functions only.
#ifndef PGAN_TRAINER_SUMMARY_H_
#define PGAN_TRAINER_SUMMARY_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainer/network_file.h"

namespace pgan::trainer {

struct SummaryRow {
  std::string name;
  int64_t params = 0;
  int64_t buffers = 0;  // Elements of registered buffers.
  std::string output;   // Output shape for one image, e.g. "1024x8x8".
};

struct ModelSummary {
  int64_t generator_params = 0;
  int64_t discriminator_trainable_params = 0;  // The mini discriminators.
  int64_t feature_network_params = 0;          // The frozen trunk.
  int64_t projector_params = 0;                // CCM + CSM (frozen).
  int logits_per_image = 0;
  std::vector<SummaryRow> rows;
};

// `networks` must hold G and D.
ModelSummary Summarize(const Networks& networks);

// The table, with a loud warning when the feature network is random.
std::string FormatSummary(const ModelSummary& summary, const config::ModelConfig& config,
                          bool feature_network_pretrained);

nlohmann::json SummaryToJson(const ModelSummary& summary);

int64_t CountParameters(const torch::nn::Module& module);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_SUMMARY_H_
