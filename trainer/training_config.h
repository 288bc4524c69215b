// Everything that defines a training run, with the reference's option names
// and defaults: the model, the data, the batch layout, the optimisers, EMA,
// progress and snapshot cadence. Stored as JSON in the run directory and in
// every snapshot, so a resumed run trains exactly as the original.
// A plain value type; not synchronised.
#ifndef PGAN_TRAINER_TRAINING_CONFIG_H_
#define PGAN_TRAINER_TRAINING_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainer/model_config.h"

namespace pgan::trainer {

struct TrainingConfig {
  // Architecture. `model.resolution` must equal the dataset's; `model.c_dim`
  // is taken from the dataset's labels when `cond` is set.
  ModelConfig model;
  // Dataset zip or folder in the reference's layout (`pgan dataset`).
  std::string data;
  // Parent directory of run directories.
  std::string outdir;
  // Train a conditional model on the dataset's labels.
  bool cond = false;
  // Double the dataset with horizontal flips.
  bool mirror = false;
  // timm model.safetensors for the feature network; empty = random features
  // (far worse, as the paper shows).
  std::string feature_weights;

  // Total batch over all processes, and per forward pass (accumulation
  // rounds = batch / (world_size * batch_gpu)). 0 = batch / world_size.
  int batch = 32;
  int batch_gpu = 0;
  // Training length in thousands of real images shown to D.
  double kimg = 25000;
  // Progress line every `tick` kimg; snapshot every `snap` ticks.
  double tick = 4;
  int snap = 50;
  // Keep a snapshot every this many kimg besides the latest (0 = latest only).
  double keep_every_kimg = 0;
  uint64_t seed = 0;

  // Learning rates (the reference's FastGAN configs: 2e-4 both).
  double glr = 2e-4;
  double dlr = 2e-4;
  // The reference builds D's optimiser with lr * 16/17 and beta2^(16/17), a
  // leftover of lazy regularisation. On by default for faithfulness.
  bool d_lazy_quirk = true;
  // G_ema half-life in kimg; negative = the reference's batch * 10 / 32.
  double ema_kimg = -1;
  // EMA ramp-up (half-life at most cur_nimg * ema_rampup); 0 disables.
  double ema_rampup = 0.05;

  // Sample grid size in images (0 = the reference's choice for the
  // resolution: 7680 / res by 4320 / res, clipped to [7, 32] x [4, 32]).
  int grid_width = 0;
  int grid_height = 0;

  // Quality metrics at every snapshot, on G_ema (the reference's --metrics;
  // names in metrics.h, e.g. "fid50k_full"); empty = none. Without
  // `inception`, an FID request is computed as the feature network's FD and
  // named so ("fd50k_full_efficientnet_lite0").
  std::vector<std::string> metrics;
  // pytorch-fid's Inception-v3 weights (pt_inception-2015-12-05, .pth or
  // .safetensors) for FID and KID.
  std::string inception;
  // Dataset statistics cache folder; empty = beside the dataset (falling
  // back to ~/.cache/pgan/stats where that is read-only).
  std::string metrics_cache;
  // Evaluate a copy of G_ema while training goes on; the results arrive with
  // a later tick instead of delaying this one.
  bool metrics_async = false;
  // Convergence watch on the first metric: report a plateau after `patience`
  // evaluations without a new best (0 = off) and a collapse when a value
  // exceeds the best by `collapse_ratio` times (0 = off); with `stop_early`
  // either ends training (the best snapshot is always kept).
  int patience = 10;
  double collapse_ratio = 2.0;
  bool stop_early = false;

  // Execution (do not change the results): decoder threads, LibTorch
  // intra-op threads (0 = LibTorch's default), device.
  int workers = 3;
  int threads = 0;
  std::string device = "auto";

  // Checks ranges and cross-field rules for a run on `world_size` processes;
  // messages name the option (`--batch-gpu`, ...).
  absl::Status Validate(int world_size) const;

  int BatchPerProcess(int world_size) const { return batch / world_size; }
  int BatchGpu(int world_size) const {
    return batch_gpu > 0 ? batch_gpu : BatchPerProcess(world_size);
  }
  double EmaKimg() const { return ema_kimg >= 0 ? ema_kimg : batch * 10.0 / 32; }

  nlohmann::json ToJson() const;
  static absl::StatusOr<TrainingConfig> FromJson(const nlohmann::json& json);
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_TRAINING_CONFIG_H_
