// What `pgan generate` and `pgan video` share about drawing from a network:
// the class label, the noise mode and StyleGAN2's truncation, checked
// against the network with messages naming the flag.
#ifndef PGAN_TOOLS_SAMPLING_FLAGS_H_
#define PGAN_TOOLS_SAMPLING_FLAGS_H_

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/model_config.h"
#include "trainer/generator.h"

namespace pgan::tools {

struct SamplingFlags {
  int class_index = -1;  // --class: required for conditional networks.
  // --noise-mode: random, const (StyleGAN2) or none; empty: the reference's
  // default (const for StyleGAN2; FastGAN's noise is always random there).
  std::string noise_mode;
  double truncation_psi = 1;      // --trunc (StyleGAN2 only).
  int64_t truncation_cutoff = 0;  // --trunc-cutoff: the first N ws; 0 all.
};

// One-hot labels [count, c_dim] for --class, undefined for an
// unconditional network.
absl::StatusOr<torch::Tensor> ClassLabels(const config::ModelConfig& config,
                                          int class_index, int64_t count,
                                          const torch::Device& device);

// Checks the flags against the network and sets the generator's noise mode
// and truncation.
absl::Status ApplySamplingFlags(const SamplingFlags& flags,
                                trainer::Generator& g);
// The same checks without a generator (before anything is loaded to a
// device or written).
absl::Status CheckSamplingFlags(const SamplingFlags& flags,
                                const config::ModelConfig& config);

// Images per forward pass for --batch: `requested`, or for 0 the reference
// scripts' one image per call with StyleGAN2 (its per-sample grouped
// convolutions round differently in larger batches) and 16 with FastGAN
// (whose eval-mode images do not depend on the batch).
int ForwardBatch(int requested, const config::ModelConfig& config);

// Creates `dir` and its parents; the error names `flag` ("--outdir").
absl::Status MakeOutputDirectory(absl::string_view flag,
                                 const std::string& dir);

}  // namespace pgan::tools

#endif  // PGAN_TOOLS_SAMPLING_FLAGS_H_
