// Everything that defines a training run, with the reference's option names
// and defaults: the model, the data, the batch layout, the optimisers, EMA,
// progress and snapshot cadence, metrics, and how the processes run. Stored
// as JSON in the run directory and in every snapshot, so a resumed run
// trains exactly as the original. Each field is a row of the option table
// (config/fields.h): its flag, job-file key, job-spec field, rule, help and
// resume rule are declared there once. A plain value type; not
// synchronised.
#ifndef PGAN_CONFIG_TRAINING_CONFIG_H_
#define PGAN_CONFIG_TRAINING_CONFIG_H_

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/model_config.h"

namespace pgan::config {

// Where a configuration came from, for messages that name its fields the
// way the user wrote them.
enum class Surface {
  kFlags,    // pgan train: "--batch-gpu".
  kJobFile,  // pgan-worker --job job.json: "batch_gpu".
  kJobSpec,  // pgan submit, a coordinator's JobSpec: "training.batch_gpu".
};

struct TrainingConfig {
  // Architecture. `model.resolution` 0 (the default) is the dataset's, as the
  // reference reads it; any other value must equal the dataset's.
  // `model.c_dim` is taken from the dataset's labels when `cond` is set.
  // `model.z_dim` 0 (the default) is the cfg's (ResolveCfgDefaults).
  ModelConfig model = ModelConfig::Unresolved();
  // Dataset zip or folder in the reference's layout (`pgan dataset`).
  std::string data;
  // Train a conditional model on the dataset's labels.
  bool cond = false;
  // Double the dataset with horizontal flips.
  bool mirror = false;
  // timm model.safetensors for the feature network; empty = random features
  // (far worse, as the paper shows).
  std::string feature_weights;

  // Parent directory of run directories, and what the run directory's name
  // ends with (the reference's --desc; empty: nothing).
  std::string outdir;
  std::string desc;
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
  // The reference's exit-and-requeue protocol: after this many seconds the
  // process writes a snapshot at the next tick and exits with
  // kExitRestart, and the same command run again continues the run
  // directory of the same description (0 = off).
  int restart_every = 0;
  // Learning rates; 0 = the cfg's (ResolveCfgDefaults): the reference's
  // 2e-4 both for FastGAN, 2e-3 both for StyleGAN2.
  double glr = 0;
  double dlr = 0;
  // The reference builds D's optimiser with lr * 16/17 and beta2^(16/17), a
  // leftover of lazy regularisation. On by default for faithfulness.
  bool d_lazy_quirk = true;
  // Freeze-D: the first `freezed` DownBlocks of every mini discriminator
  // are not trained (0 = none).
  int freezed = 0;
  // "on": the same training whatever the number of processes and
  // accumulation rounds (trainer/README.md, "World-invariant training");
  // "off": the reference's, whose spectral norm and BatchNorm statistics
  // depend on that split; "auto": on for an elastic pool job (it may
  // restart on another world size), off otherwise (ResolveWorldInvariant).
  std::string world_invariant = "auto";
  // G_ema half-life in kimg; negative = the reference's batch * 10 / 32.
  double ema_kimg = -1;
  // EMA ramp-up (half-life at most cur_nimg * ema_rampup); 0 disables.
  double ema_rampup = 0.05;
  // Sample grid size in images (0 = the reference's choice for the
  // resolution: 7680 / res by 4320 / res, clipped to [7, 32] x [4, 32]).
  int grid_width = 0;
  int grid_height = 0;

  // Quality metrics at every snapshot, on G_ema (the reference's --metrics;
  // grammar in config/metric_name.h, e.g. "fid50k_full"); empty = none.
  // Without `inception`, an FID request is computed as the feature
  // network's FD and named so ("fd50k_full_efficientnet_lite0").
  std::vector<std::string> metrics;
  // The metrics' detector files: NVIDIA's TorchScript Inception
  // (inception-2015-12-05.pt) for fid*_full and kid*_full, pytorch-fid's
  // Inception-v3 weights (.pth or .safetensors) for *_pytorchfid, NVIDIA's
  // TorchScript VGG16 (vgg16.pt) for pr*_full.
  std::string inception;
  std::string inception_pytorchfid;
  std::string vgg16;
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

  // Execution (does not change the results): decoder threads, LibTorch
  // intra-op threads (0 = LibTorch's default), device, and how the
  // processes of a job talk: backend under mpirun, seconds a rank waits at
  // a collective before the job is aborted, largest fused gradient buffer.
  int workers = 3;
  int threads = 0;
  std::string device = "auto";
  // The reference's GPU numerics (training_loop.py): cuDNN benchmarking on,
  // TF32 off in matmuls and cuDNN; these turn the first off, the second on.
  bool nobench = false;
  bool allow_tf32 = false;
  // Numerics and memory layout of the training phases (they change the
  // results within rounding, unlike the rest of this group): "off" (fp32,
  // the reference) or "bf16" (autocast for G, D and the feature network;
  // fp32 weights, gradients and Adam state); channels-last convolutions.
  std::string amp = "off";
  bool channels_last = false;
  std::string backend = "auto";
  double comm_timeout = 60;
  double bucket_mb = 1024;

  // Checks every field's rule and the cross-field rules for a run on
  // `world_size` processes. INVALID_ARGUMENT names the first field that
  // breaks one as `surface` spells it ("--batch-gpu: ...",
  // "training.batch_gpu: ..."); the rest of the message is the same on
  // every surface. A job spec's fields that the coordinator supplies
  // (outdir, device, ...) are not checked for kJobSpec.
  absl::Status Validate(int world_size,
                        Surface surface = Surface::kFlags) const;

  int BatchPerProcess(int world_size) const { return batch / world_size; }
  int BatchGpu(int world_size) const {
    return batch_gpu > 0 ? batch_gpu : BatchPerProcess(world_size);
  }
  // Replaces the cfg-dependent defaults (z_dim, glr, dlr at 0) by the cfg's
  // values, as the reference's train.py sets them. Idempotent.
  void ResolveCfgDefaults() {
    model.ResolveCfgDefaults();
    const double lr = model.stylegan2() ? 2e-3 : 2e-4;
    if (glr == 0) glr = lr;
    if (dlr == 0) dlr = lr;
  }
  // --world-invariant's "auto" made "on" or "off" (an elastic pool job, or
  // anything else). Idempotent.
  void ResolveWorldInvariant(bool elastic) {
    if (world_invariant == "auto") world_invariant = elastic ? "on" : "off";
  }
  bool WorldInvariant() const { return world_invariant == "on"; }
  double EmaKimg() const {
    return ema_kimg >= 0 ? ema_kimg : batch * 10.0 / 32;
  }

  // {"model": {...}, "data": ..., ...}: every field.
  nlohmann::json ToJson() const;
  // The other way: a missing field keeps its default (files written before
  // it existed), an unknown or mistyped one is an error naming it, prefixed
  // with `source`. Does not validate.
  static absl::StatusOr<TrainingConfig> FromJson(
      const nlohmann::json& json,
      const std::string& source = "training config");
};

// The configuration of a resumed run: `stored` (the snapshot's) with what
// `requested` may change. Per field (config/fields.h, OnResume): a value
// that defines the training may not differ from the snapshot's when given
// (that is, when it differs from its default); values that do not change
// the training so far replace the snapshot's when given; execution values
// are always the requested ones.
// The configuration of a new run initialised from a network file (the
// reference's --resume of a network pickle): `requested` with the network's
// model, so that its weights fit; a model option given (differing from its
// default) with another value than the network's is refused, naming it.
// G_ema's ramp-up is off, as the reference turns it off for a resumed
// network: its G_ema is not a fresh average.
absl::StatusOr<TrainingConfig> ForInitialNetwork(const TrainingConfig& requested,
                                                 const ModelConfig& network,
                                                 const std::string& file,
                                                 Surface surface);

absl::Status MergeForResume(const TrainingConfig& requested,
                            TrainingConfig* stored,
                            Surface surface = Surface::kFlags);

}  // namespace pgan::config

#endif  // PGAN_CONFIG_TRAINING_CONFIG_H_
