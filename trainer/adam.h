// Adam as torch.optim.Adam computes it (no weight decay, no AMSGrad), with
// its state in plain tensors that snapshots save and restore exactly.
// LibTorch's own optimiser keys its state by tensor address, which cannot be
// serialised portably. Not thread-safe.
#ifndef PGAN_TRAINER_ADAM_H_
#define PGAN_TRAINER_ADAM_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"

namespace pgan::trainer {

struct AdamOptions {
  double lr = 2e-4;     // Learning rate.
  double beta1 = 0.0;   // First-moment decay (the reference: 0).
  double beta2 = 0.99;  // Second-moment decay (the reference: 0.99).
  double eps = 1e-8;
};

class Adam {
 public:
  struct ParamState {
    int64_t step = 0;  // Steps taken with a gradient.
    // First and second moments; exp_avg stays undefined when beta1 is 0 (it
    // would equal the gradient).
    torch::Tensor exp_avg, exp_avg_sq;
  };

  // `names` label the parameters in snapshots (state-dict keys).
  Adam(std::vector<torch::Tensor> params, std::vector<std::string> names,
       AdamOptions options);

  // One update of every parameter that has a gradient; parameters without
  // one are skipped, as PyTorch does.
  void Step();
  // Drops every gradient (PyTorch's zero_grad(set_to_none=True)).
  void ZeroGrad();

  const AdamOptions& options() const { return options_; }
  const std::vector<torch::Tensor>& params() const { return params_; }
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<ParamState>& state() const { return state_; }
  // Replaces the state of parameter `index` (shapes must match the
  // parameter; moments may be undefined before the first step).
  absl::Status SetState(size_t index, ParamState state);

 private:
  std::vector<torch::Tensor> params_;
  std::vector<std::string> names_;
  AdamOptions options_;
  std::vector<ParamState> state_;
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_ADAM_H_
