// Snapshots: the full resume state of a training run in one safetensors
// file (G, G_ema and D with the reference's keys, both optimisers' moments
// and step counts, and as metadata the model and training configs and the
// progress counters, which also fix the data sampler's position and every
// per-sample random stream). A snapshot is itself a valid network file;
// ExportNetwork() writes the smaller reference-compatible one. Files are
// written atomically. Functions only.
#ifndef PGAN_TRAINER_SNAPSHOT_H_
#define PGAN_TRAINER_SNAPSHOT_H_

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/training_config.h"
#include "trainer/adam.h"
#include "trainer/network_file.h"

namespace pgan::trainer {

struct TrainProgress {
  int64_t cur_nimg = 0;         // Real images shown to D so far.
  int64_t cur_tick = 0;         // Ticks completed.
  int64_t batch_idx = 0;        // Iterations completed.
  int64_t tick_start_nimg = 0;  // cur_nimg at the start of the current tick.
  double training_seconds = 0;  // Wall time spent training, over all sessions.
  int64_t nonfinite_grads = 0;  // Gradient entries scrubbed so far.

  nlohmann::json ToJson() const;
  static absl::StatusOr<TrainProgress> FromJson(const nlohmann::json& json);
};

struct TrainingState {
  config::TrainingConfig config;
  TrainProgress progress;
};

// Optimiser moments are stored at the gradient scale of one process: N
// ranks average their gradients as the reference does (quirk 11), while one
// process sums its accumulation rounds, so a run of `world_size` ranks sees
// gradients 1/N of the one-process ones for the same global batch. Saving
// exp_avg x N and exp_avg_sq x N^2 (and dividing on load) makes a snapshot
// resume with the same Adam steps at any world size. Under --world-invariant
// the gradients are the one-process ones at any world size: pass 1.
absl::Status SaveSnapshot(const std::string& path, const Networks& networks,
                          const Adam& g_opt, const Adam& d_opt,
                          const TrainingState& state, int world_size = 1);

// Whether `path` holds a training run's state (a snapshot) rather than only
// networks (an exported or converted network file). Errors name the file
// when it is neither.
absl::StatusOr<bool> IsTrainingSnapshot(const std::string& path);

// Reads the configs and progress of a snapshot without its tensors.
absl::StatusOr<TrainingState> ReadSnapshotState(const std::string& path);

// Loads networks and optimiser state into already-built objects of the
// snapshot's architecture. Errors name the file and the tensor.
absl::Status LoadSnapshot(const std::string& path, Networks& networks,
                          Adam& g_opt, Adam& d_opt, int world_size = 1);

// The reference-compatible network file (G, G_ema, D and the model config).
absl::Status ExportNetwork(const std::string& snapshot_path,
                           const std::string& network_path);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_SNAPSHOT_H_
