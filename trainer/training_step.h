// One training iteration of Projected GAN, as the reference's training loop
// and ProjectedGANLoss compute it: the G phase (-mean D(G(z))), then the D
// phase (hinge, fake pass then real pass), each over accumulation rounds of
// batch_gpu samples with gradients summed, synchronised, scrubbed of
// NaN/Inf and applied by Adam; then the G_ema update.
//
// Every random number is drawn per sample from a key of (seed, iteration,
// global sample index, purpose), so the same global batch split over any
// number of processes and rounds trains the same way. Not thread-safe.
#ifndef PGAN_TRAINER_TRAINING_STEP_H_
#define PGAN_TRAINER_TRAINING_STEP_H_

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "config/training_config.h"
#include "trainer/adam.h"
#include "trainer/process_group.h"
#include "trainer/network_file.h"
#include "trainer/precision.h"

namespace pgan::trainer {

// What a per-sample random stream is used for (part of its key).
enum class RandomPurpose : uint64_t {
  kGLatent = 1,
  kGLabel = 2,
  kGNoise = 3,
  kGAugment = 4,
  kDLatent = 5,
  kDLabel = 6,
  kDNoise = 7,
  kDAugmentFake = 8,
  kDAugmentReal = 9,
  kGridLatent = 10,
  kGridNoise = 11,
  kGridLabel = 12,
  kMetricLatent = 13,
  kMetricNoise = 14,
  kMetricLabel = 15,
};

uint64_t SampleKey(uint64_t seed, int64_t iteration, int64_t global_index,
                   RandomPurpose purpose);

// How the global batch is split. Process `rank` runs rounds 0..R-1 of
// `batch_gpu` samples; its round q holds global samples
// [(rank * R + q) * batch_gpu, +batch_gpu). With one process this is the
// reference's order; with several, each holds a contiguous block, so that
// every chunk (and its BatchNorm statistics) is the same whatever the split.
struct BatchLayout {
  int rank = 0;
  int world_size = 1;
  int batch = 1;
  int batch_gpu = 1;
  int rounds() const { return batch / (world_size * batch_gpu); }
  int per_process() const { return batch / world_size; }
  int64_t GlobalIndex(int round, int element) const {
    return (static_cast<int64_t>(rank) * rounds() + round) * batch_gpu + element;
  }
};

struct StepOptions {
  uint64_t seed = 0;
  BatchLayout layout;
  double ema_kimg = 20;     // G_ema half-life.
  double ema_rampup = 0.05;  // 0 = none.
  // Labels of the dataset [N, c_dim] for sampling fake labels (conditional
  // models), as the reference draws a random dataset item's label.
  torch::Tensor label_table;
  // --amp and --channels-last (trainer/precision.h): the forward passes of
  // both phases under bf16 autocast; real images channels-last (the
  // networks' weights are converted by whoever builds them).
  Amp amp = Amp::kOff;
  bool channels_last = false;
  // --world-invariant (trainer/world_invariant.h): spectral norm refined per
  // phase, gradients and forward-updated buffers combined over chunks in
  // float64, gradients the sum over the global batch's chunks (not
  // averaged over processes).
  bool world_invariant = false;
};

// A run's step options from its configuration (the label table aside), the
// same for `pgan train` and `pgan bench`. An error names the option.
absl::StatusOr<StepOptions> MakeStepOptions(const config::TrainingConfig& config,
                                            const BatchLayout& layout);

// Sums over this process's samples; the reporter reduces across processes.
struct StepStats {
  double g_loss_sum = 0;       // Sum of per-round G losses.
  double d_loss_sum = 0;       // Sum of per-round D losses (fake + real).
  double score_fake_sum = 0;   // Sum over fake logits (G phase).
  double sign_fake_sum = 0;
  double score_real_sum = 0;   // Sum over real logits (D phase).
  double sign_real_sum = 0;
  int64_t fake_logits = 0;     // Logits counted in the fake sums.
  int64_t real_logits = 0;
  int64_t rounds = 0;
  int64_t nonfinite_grads = 0;  // Gradient entries scrubbed (NaN/Inf).
};

class TrainingStep {
 public:
  TrainingStep(Networks* networks, Adam* g_opt, Adam* d_opt,
               ProcessGroup* group, StepOptions options);

  // One iteration. `real_images`: this process's batch / world_size real
  // images, uint8 [B, C, H, W] in the layout's order; `real_labels`: one-hot
  // [B, c_dim] (conditional) or undefined. `cur_nimg`: images shown before
  // this iteration (for the EMA ramp-up).
  absl::StatusOr<StepStats> Run(int64_t iteration, int64_t cur_nimg,
                                const torch::Tensor& real_images,
                                const torch::Tensor& real_labels);

  // Latents, labels and noise streams of `count` samples for `purpose`
  // (exposed for the sample grid and tests).
  torch::Tensor Latents(int64_t iteration, const std::vector<int64_t>& indices,
                        RandomPurpose purpose) const;
  torch::Tensor FakeLabels(int64_t iteration, const std::vector<int64_t>& indices,
                           RandomPurpose purpose) const;

 private:
  absl::Status GeneratorPhase(int64_t iteration, StepStats* stats);
  absl::Status DiscriminatorPhase(int64_t iteration, const torch::Tensor& real,
                                  const torch::Tensor& real_labels,
                                  StepStats* stats);
  // loss.backward(), scaled for the average over processes (the
  // reference's; not under --world-invariant).
  void Backward(const torch::Tensor& loss);
  // Sums gradients across processes (unless `summed`: --world-invariant
  // did), scrubs NaN/Inf, steps the optimiser.
  absl::Status ApplyGradients(Adam& optimizer, bool summed, StepStats* stats);
  void UpdateEma(int64_t cur_nimg);
  std::vector<int64_t> RoundIndices(int round) const;
  // batch_gpu chunks in the global batch, over all processes.
  int64_t Chunks() const;

  Networks* nets_;
  Adam* g_opt_;
  Adam* d_opt_;
  ProcessGroup* group_;
  StepOptions options_;
  torch::Device device_;
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_TRAINING_STEP_H_
