// The seam between the trainer and the processes of a job. The trainer
// knows nothing of MPI or NCCL: worker/ implements this interface over its
// communicator, and one process uses LocalProcessGroup. Every rank calls
// the collectives in the same order with the same shapes. Implementations
// document their own thread-safety; the trainer calls them from one thread.
#ifndef PGAN_TRAINER_PROCESS_GROUP_H_
#define PGAN_TRAINER_PROCESS_GROUP_H_

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pgan::trainer {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Rank among the processes of this host (one GPU each).
  virtual int local_rank() const = 0;

  // Called at the start of a phase, after the optimiser cleared the
  // gradients of `params` (the reference's zero_grad(set_to_none)): a group
  // that syncs may give them zeroed gradients that live in its own fused
  // buffers, so that backward accumulates straight into what it sends and
  // SumGradients copies nothing. The default leaves them cleared.
  virtual absl::Status PrepareGradients(
      const std::vector<torch::Tensor>& params) {
    (void)params;
    return absl::OkStatus();
  }
  // Replaces every gradient by its sum over all processes. The reference
  // averages (all_reduce(sum) / num_gpus); the trainer scales each loss by
  // 1 / world_size() before backward instead, which gives the same numbers
  // (exactly for a power-of-two world) without another pass over them.
  virtual absl::Status SumGradients(std::vector<torch::Tensor>& grads) = 0;
  // Sums a float64 tensor over all processes, in place: --world-invariant's
  // gradients and buffers, whose float32 results then hardly depend on the
  // order in which the ranks' values are added. A group of one process
  // need not implement it.
  virtual absl::Status SumDoubles(torch::Tensor& values) {
    (void)values;
    if (world_size() == 1) return absl::OkStatus();
    return absl::UnimplementedError("this process group has no float64 sum");
  }
  // Copies rank 0's values of `tensors` into every rank's, in place.
  virtual absl::Status BroadcastFromRoot(
      std::vector<torch::Tensor>& tensors) = 0;
  // Copies rank `root`'s values into every rank's, in place (any dtype;
  // shapes agree across ranks). Evaluation uses it to combine per-rank
  // float64 statistics exactly, in rank order. The default serves root 0.
  virtual absl::Status Broadcast(std::vector<torch::Tensor>& tensors,
                                 int root) {
    if (root == 0) return BroadcastFromRoot(tensors);
    return absl::UnimplementedError("this process group broadcasts from rank 0 only");
  }
  // Sums small host values (statistics) over all processes.
  virtual absl::Status SumValues(std::vector<double>& values) = 0;
  // One value per rank, gathered to every rank (checksums, stop flags).
  virtual absl::StatusOr<std::vector<uint64_t>> GatherValues(
      uint64_t value) = 0;
};

// One process: nothing to combine.
class LocalProcessGroup : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  absl::Status SumGradients(std::vector<torch::Tensor>&) override {
    return absl::OkStatus();
  }
  absl::Status BroadcastFromRoot(std::vector<torch::Tensor>&) override {
    return absl::OkStatus();
  }
  absl::Status SumValues(std::vector<double>&) override {
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<uint64_t>> GatherValues(uint64_t value) override {
    return std::vector<uint64_t>{value};
  }
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_PROCESS_GROUP_H_
