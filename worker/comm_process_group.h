// The trainer's ProcessGroup over a Communicator. The gradients of a phase
// live in persistent fused buffers (one per bucket of at most
// `bucket_bytes`): PrepareGradients points each parameter's gradient at its
// slice of a zeroed bucket, backward accumulates into it, and SumGradients
// is one in-place all-reduce per bucket with no copies (the trainer has
// already divided the losses by the world size). Gradients that are not
// those views (another caller, or CUDA gradients with the MPI backend) are
// packed into the buckets and copied back. Buffers live on the gradients'
// device for NCCL and in host memory for MPI. Not thread-safe: the trainer's
// thread only.
#ifndef PGAN_WORKER_COMM_PROCESS_GROUP_H_
#define PGAN_WORKER_COMM_PROCESS_GROUP_H_

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <vector>

#include "trainer/process_group.h"
#include "worker/communicator.h"

namespace pgan::worker {

struct GradientSyncOptions {
  // Largest fused buffer in bytes. One all-reduce per bucket. The buckets
  // are the gradients (no extra memory), and the sync starts after backward,
  // so the default puts each phase in one bucket for every configuration
  // (fastgan at 1024 px has 0.5 GB of gradients): fewer, larger calls were
  // measured faster (README.md). Smaller buckets pay only once the
  // all-reduce overlaps backward, which is not done yet.
  int64_t bucket_bytes = int64_t{1} << 30;
};

class CommProcessGroup : public trainer::ProcessGroup {
 public:
  // `comm` is not owned and must outlive this object.
  CommProcessGroup(comm::Communicator* comm, GradientSyncOptions options);

  int rank() const override { return comm_->rank(); }
  int world_size() const override { return comm_->world_size(); }
  int local_rank() const override { return comm_->local_rank(); }

  absl::Status PrepareGradients(
      const std::vector<torch::Tensor>& params) override;
  absl::Status SumGradients(std::vector<torch::Tensor>& grads) override;
  absl::Status SumDoubles(torch::Tensor& values) override;
  absl::Status BroadcastFromRoot(std::vector<torch::Tensor>& tensors) override {
    return Broadcast(tensors, 0);
  }
  absl::Status Broadcast(std::vector<torch::Tensor>& tensors,
                         int root) override;
  absl::Status SumValues(std::vector<double>& values) override;
  absl::StatusOr<std::vector<uint64_t>> GatherValues(uint64_t value) override;

  // Buckets used by the last SumGradients call, and whether it copied.
  int64_t last_bucket_count() const { return last_bucket_count_; }
  bool last_sync_copied() const { return last_sync_copied_; }

 private:
  struct Plan {
    std::vector<std::pair<size_t, size_t>> buckets;  // [first, last) tensors.
    std::vector<torch::Tensor> buffers;              // One per bucket.
    std::vector<torch::Tensor> views;  // Per tensor: its slice, shaped like it.
  };
  // The plan for a list of tensors (by their sizes), built on first use.
  absl::StatusOr<Plan*> PlanFor(const std::vector<torch::Tensor>& tensors);

  comm::Communicator* comm_;
  GradientSyncOptions options_;
  std::map<std::vector<int64_t>, Plan> plans_;
  int64_t last_bucket_count_ = 0;
  bool last_sync_copied_ = false;
};

}  // namespace pgan::worker

#endif  // PGAN_WORKER_COMM_PROCESS_GROUP_H_
