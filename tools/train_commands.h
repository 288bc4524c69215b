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
#include "trainer/process_group.h"
#include "trainer/training_config.h"

namespace pgan::tools {

// How the processes of a job talk (full builds; ignored by one process).
struct CommOptions {
  // auto (NCCL on GPUs where built, else MPI), mpi or nccl.
  std::string backend = "auto";
  // Seconds a rank waits at a collective before the job is aborted.
  double timeout_s = 60;
  // Largest fused gradient buffer, MiB.
  double bucket_mb = 1024;
};

struct TrainOptions {
  trainer::TrainingConfig config;
  // "latest", a run directory or a snapshot; empty for a new run.
  std::string resume;
  CommOptions comm;
};
// `stop` is polled between iterations (set by SIGINT/SIGTERM).
// `under_mpi`: this process was started by an MPI launcher and is one rank
// of a multi-process job. Two implementations: with worker/ (full builds:
// MPI, NCCL or one process) and without (trainer-only builds: one process).
absl::Status RunTrainCommand(const TrainOptions& options, bool under_mpi,
                             const std::atomic<bool>* stop, std::ostream& out);

struct ExportOptions {
  std::string snapshot;  // A training snapshot.
  std::string out;       // The reference-compatible network file to write.
};
absl::Status RunExport(const ExportOptions& options, std::ostream& out);

struct BenchOptions {
  // Model and batch layout; the data are random images, so no dataset is
  // needed. feature_weights, if set, is loaded like in training.
  trainer::TrainingConfig config;
  int iterations = 3;  // Timed iterations.
  int warmup = 1;      // Untimed iterations first.
  // --comm: also time the gradient sync alone (under mpirun, full builds).
  bool comm_bench = false;
  int comm_iterations = 20;
  CommOptions comm;
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
absl::Status RunBenchCommand(const BenchOptions& options, bool under_mpi,
                             std::ostream& out);

}  // namespace pgan::tools

#endif  // PGAN_TOOLS_TRAIN_COMMANDS_H_
