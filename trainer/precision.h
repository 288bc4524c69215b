// Numerics and memory layout of the training phases: bf16 autocast
// (--amp bf16) and channels-last weights (--channels-last). Both leave the
// weights, gradients and optimiser state in fp32, so a snapshot does not
// depend on them and a run may switch either way when it resumes.
#ifndef PGAN_TRAINER_PRECISION_H_
#define PGAN_TRAINER_PRECISION_H_

#include <c10/core/Device.h>
#include <torch/nn/module.h>

#include <string>

#include "absl/status/statusor.h"
#include "trainer/network_file.h"

namespace pgan::trainer {

enum class Amp { kOff, kBf16 };

// "off" or "bf16" (--amp); an error names the value.
absl::StatusOr<Amp> ParseAmp(const std::string& amp);

// While alive, LibTorch runs the ops it lists for autocast on `device_type`
// (convolutions and matmuls) in bf16, as Python's
// `with torch.autocast(device_type, dtype=torch.bfloat16)`; nothing when
// `amp` is kOff. Autocast state is thread-local: a scope covers the thread
// that made it.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device_type, Amp amp);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_type_;
  bool active_;
  bool was_enabled_ = false;
  c10::ScalarType was_dtype_ = c10::ScalarType::Float;
};

// `t` in the dtype autocast runs convolutions in, where autocast is on for
// its device (else `t` itself): for ops that call ATen below autocast's
// dispatch, such as custom autograd functions (as PyTorch's custom_fwd).
torch::Tensor AutocastOperand(const torch::Tensor& t);

// Stores every 4-D parameter and buffer of `module` channels-last, in
// place: the same tensors (an optimiser built on them keeps working), new
// strides. Convolutions then produce channels-last activations.
void ToChannelsLast(torch::nn::Module& module);

// G, G_ema and D on `device` (channels-last with `channels_last`), G and D
// in training mode and G_ema in eval mode, before their optimisers are made.
void PlaceForTraining(Networks& nets, const c10::Device& device,
                      bool channels_last);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_PRECISION_H_
