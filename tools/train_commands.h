// The training commands of the `pgan` CLI: train, export, bench. Option
// structs are filled by pgan_main.cc; reports go to `out`.
#ifndef PGAN_TOOLS_TRAIN_COMMANDS_H_
#define PGAN_TOOLS_TRAIN_COMMANDS_H_

#include <atomic>
#include <ostream>
#include <string>
#include <vector>

#include <c10/core/DeviceType.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/training_config.h"
#include "trainer/process_group.h"
#include "trainer/run_end.h"

namespace pgan::tools {

// The MPI launcher this process was started by, if any (from its
// environment, read in main).
struct Launcher {
  bool under_mpi = false;
  int world_size = 1;
  int rank = 0;
};

struct TrainOptions {
  // Every option of the option table (how the processes talk included).
  config::TrainingConfig config;
  // "latest", "auto", a run directory or a snapshot; empty for a new run.
  std::string resume;
  // Print the run's validated configuration and exit.
  bool dry_run = false;
  // Where dataset statistics are cached when the dataset's folder is
  // read-only (from the environment, read in main).
  std::string fallback_stats_cache;
};
// `stop` is polled between iterations (set by SIGINT/SIGTERM). Two
// implementations: with worker/ (full builds: MPI, NCCL or one process) and
// without (trainer-only builds: one process).
// A restart (--restart-every) is a success whose process exits with
// trainer::kExitRestart.
absl::StatusOr<trainer::RunEnd> RunTrainCommand(const TrainOptions& options,
                             const Launcher& launcher,
                             const std::atomic<bool>* stop, std::ostream& out);

struct ExportOptions {
  std::string snapshot;  // A training snapshot.
  std::string out;       // The reference-compatible network file to write.
};
absl::Status RunExport(const ExportOptions& options, std::ostream& out);

struct BenchOptions {
  // Model, batch layout and how the processes talk; the data are random
  // images, so no dataset is needed. feature_weights, if set, is loaded
  // like in training.
  config::TrainingConfig config;
  int iterations = 3;  // Timed iterations.
  int warmup = 1;      // Untimed iterations first.
  // --comm: also time the gradient sync alone (under mpirun, full builds).
  bool comm_bench = false;
  int comm_iterations = 20;
};

struct BenchResult {
  double seconds_per_iteration = 0;
  // Seconds per iteration inside ProcessGroup::SumGradients.
  double sync_seconds_per_iteration = 0;
  // Trainable parameter sizes of G and D: the gradients synced per phase.
  std::vector<int64_t> g_sizes, d_sizes;
  c10::DeviceType device = c10::DeviceType::CPU;
};
// Training iterations on random images as rank `group.rank()` of
// `group.world_size()`; only `out` of rank 0 should be a real stream.
absl::StatusOr<BenchResult> RunBench(const BenchOptions& options,
                                     trainer::ProcessGroup& group,
                                     std::ostream& out);
// `pgan bench`: one process, or every rank under mpirun (full builds), then
// with --comm the sync benchmark. Implemented beside RunTrainCommand.
absl::Status RunBenchCommand(const BenchOptions& options,
                             const Launcher& launcher, std::ostream& out);

}  // namespace pgan::tools

#endif  // PGAN_TOOLS_TRAIN_COMMANDS_H_
