// The model commands of the `pgan` CLI: summary, generate, score. Each takes
// a plain options struct (filled by pgan_main.cc from flags) and writes its
// report to `out`. Errors come back as Status naming the file or option.
#ifndef PGAN_TOOLS_MODEL_COMMANDS_H_
#define PGAN_TOOLS_MODEL_COMMANDS_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/model_config.h"
#include "tools/sampling_flags.h"

namespace pgan::tools {

struct SummaryOptions {
  config::ModelConfig model;
  // timm model.safetensors for the feature network; empty = random.
  std::string feature_weights;
  bool json = false;
};
absl::Status RunSummary(const SummaryOptions& options, std::ostream& out);

struct GenerateOptions {
  std::string network;   // Network file (safetensors).
  std::string latents;   // .npy [N, z_dim]; exclusive with `seeds`.
  std::vector<int64_t> seeds;  // z = np.random.RandomState(seed).randn(z_dim).
  std::string outdir;
  SamplingFlags sampling;  // --class, --noise-mode, --trunc.
  int batch = 0;           // Images per forward pass; 0: ForwardBatch's choice.
  uint64_t noise_seed = 0;  // Noise of image i is drawn from (noise_seed, i).
  std::string device = "auto";
};
absl::Status RunGenerate(const GenerateOptions& options, std::ostream& out);

struct ScoreOptions {
  std::string network;
  std::string images;  // Directory of PNG/JPEG files.
  int class_index = -1;
  int batch = 16;
  bool json = false;
  std::string device = "auto";
};
absl::Status RunScore(const ScoreOptions& options, std::ostream& out);

// "0-3,7" -> {0, 1, 2, 3, 7}. Seeds must be in [0, 2^32).
absl::StatusOr<std::vector<int64_t>> ParseSeedList(const std::string& text);

}  // namespace pgan::tools

#endif  // PGAN_TOOLS_MODEL_COMMANDS_H_
