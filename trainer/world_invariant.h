// --world-invariant (config/training_config.h): what makes a phase's result
// independent of how the global batch is split into processes and
// accumulation rounds. A phase runs over the C = batch / batch_gpu chunks
// of the global batch, R of them on each process; each chunk's forward and
// backward passes are the same computation wherever they run, so only what
// crosses chunks needs care:
// - Spectral norm: the power iterations run at the phase's start, as many
//   per network as one round has forwards of it (the reference's count at
//   one round per process), instead of once per forward.
// - Gradients: each chunk's float32 gradient (the reference's arithmetic)
//   is added into a float64 sum over the chunks, the rounds here and then
//   the ranks (ProcessGroup::SumDoubles), and rounded to float32 once. That
//   is the gradient one process accumulating all C rounds would apply; its
//   float32 value depends on the order of the float64 additions only where
//   they round within half a float32 ulp of a rounding boundary.
// - Buffers that training-mode forwards change (BatchNorm running
//   statistics and num_batches_tracked, StyleGAN2's w_avg): every chunk
//   starts from the phase's values, and the phase ends with the mean over
//   all chunks of what each left: one momentum step towards the mean of the
//   chunks' statistics, whatever the split.
// Not thread-safe: the trainer's thread only.
#ifndef PGAN_TRAINER_WORLD_INVARIANT_H_
#define PGAN_TRAINER_WORLD_INVARIANT_H_

#include <cstdint>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/status/status.h"
#include "trainer/process_group.h"

namespace pgan::trainer {

class InvariantPhase {
 public:
  // `networks`: each network whose forwards run in the phase, with the
  // number of its forwards per round (its spectral-norm refinements);
  // `params`: those that get gradients. Refines spectral norm and records
  // the buffers' starting values.
  InvariantPhase(
      const std::vector<std::pair<torch::nn::Module*, int>>& networks,
      std::vector<torch::Tensor> params);

  // Before each round: the buffers back to the phase's start.
  void BeginRound();
  // After each round's backward passes: adds its gradients and buffers to
  // the sums and clears the gradients for the next chunk.
  void EndRound();
  // Sums over the processes and replaces the gradients by the sum over all
  // `chunks` chunks and the buffers by their mean. One collective.
  absl::Status End(ProcessGroup& group, int64_t chunks);

 private:
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> buffers_;
  std::vector<torch::Tensor> starts_;  // The buffers' values at the start.
  // One float64 tensor: the gradients' sums, then the buffers'.
  torch::Tensor sums_;
  std::vector<torch::Tensor> grad_sums_, buffer_sums_;  // Views of sums_.
  std::vector<bool> has_grad_;
};

// The buffers of `module` that training-mode forwards change: those of its
// modules in training mode, less spectral norm's u and v.
std::vector<torch::Tensor> ForwardUpdatedBuffers(torch::nn::Module& module);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_WORLD_INVARIANT_H_
