// The gradient-sync benchmark behind `pgan bench --comm`: the fused-bucket
// all-reduce of CommProcessGroup for a model's real gradient sizes, timed
// against a plain all-reduce of the same bytes in the same run (MPI_Allreduce
// on MPI_COMM_WORLD for the MPI backend, one NCCL all-reduce of one device
// buffer for NCCL). Every rank calls it; the figures are the slowest rank's.
// Functions only.
#ifndef PGAN_WORKER_COMM_BENCH_H_
#define PGAN_WORKER_COMM_BENCH_H_

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/comm_process_group.h"
#include "worker/communicator.h"

namespace pgan::worker {

struct SyncBenchOptions {
  // Gradient sizes (elements) of each optimiser phase of one iteration, in
  // the order the trainer syncs them (G, then D).
  std::vector<std::vector<int64_t>> phases;
  GradientSyncOptions sync;
  // Where gradients live (CUDA for NCCL, else the CPU).
  torch::Device device = torch::kCPU;
  int iterations = 20;  // Timed.
  int warmup = 3;       // Untimed first (buffers, connections).
};

struct SyncBenchResult {
  int64_t floats_per_iteration = 0;
  int64_t buckets_per_iteration = 0;
  bool copied = false;       // Gradients were packed (not bucket views).
  double sync_seconds = 0;   // Per iteration: CommProcessGroup.
  double plain_seconds = 0;  // Per iteration: one plain all-reduce per phase.
};

absl::StatusOr<SyncBenchResult> BenchGradientSync(
    comm::Communicator& comm, const SyncBenchOptions& options);

// Bus bandwidth of an all-reduce of `bytes` over `world` ranks taking
// `seconds` (nccl-tests' busbw): algbw x 2(n-1)/n, bytes per second.
double AllReduceBusBandwidth(double bytes, double seconds, int world);

}  // namespace pgan::worker

#endif  // PGAN_WORKER_COMM_BENCH_H_
