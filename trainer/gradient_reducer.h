// The seam through which the training step combines gradients across
// processes. The trainer knows nothing of MPI or NCCL: worker/ implements
// this interface over its communicator. Implementations document their own
// thread-safety; the trainer calls them from one thread.
#ifndef PGAN_TRAINER_GRADIENT_REDUCER_H_
#define PGAN_TRAINER_GRADIENT_REDUCER_H_

#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"

namespace pgan::trainer {

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Replaces every tensor by its sum over all processes. Every process
  // passes the same list (same order, shapes and dtypes).
  virtual absl::Status SumAcrossProcesses(std::vector<torch::Tensor>& grads) = 0;
};

// One process: nothing to combine.
class LocalGradientReducer : public GradientReducer {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  absl::Status SumAcrossProcesses(std::vector<torch::Tensor>&) override {
    return absl::OkStatus();
  }
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_GRADIENT_REDUCER_H_
