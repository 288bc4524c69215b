#include "trainer/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "absl/strings/str_cat.h"

namespace pgan::trainer {
namespace {

// LibTorch 2.4 replaced the per-backend autocast setters with ones that take
// the device type (and deprecated the old ones).
#if TORCH_VERSION_MAJOR > 2 || \
    (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool AutocastEnabled(c10::DeviceType t) {
  return at::autocast::is_autocast_enabled(t);
}
void SetAutocastEnabled(c10::DeviceType t, bool on) {
  at::autocast::set_autocast_enabled(t, on);
}
c10::ScalarType AutocastDtype(c10::DeviceType t) {
  return at::autocast::get_autocast_dtype(t);
}
void SetAutocastDtype(c10::DeviceType t, c10::ScalarType dtype) {
  at::autocast::set_autocast_dtype(t, dtype);
}
#else
bool AutocastEnabled(c10::DeviceType t) {
  return t == c10::kCUDA ? at::autocast::is_enabled()
                         : at::autocast::is_cpu_enabled();
}
void SetAutocastEnabled(c10::DeviceType t, bool on) {
  if (t == c10::kCUDA) {
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_cpu_enabled(on);
  }
}
c10::ScalarType AutocastDtype(c10::DeviceType t) {
  return t == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                         : at::autocast::get_autocast_cpu_dtype();
}
void SetAutocastDtype(c10::DeviceType t, c10::ScalarType dtype) {
  if (t == c10::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
}
#endif

}  // namespace

absl::StatusOr<Amp> ParseAmp(const std::string& amp) {
  if (amp == "off") return Amp::kOff;
  if (amp == "bf16") return Amp::kBf16;
  return absl::InvalidArgumentError(
      absl::StrCat("--amp \"", amp, "\": expected off or bf16"));
}

AutocastScope::AutocastScope(c10::DeviceType device_type, Amp amp)
    : device_type_(device_type), active_(amp != Amp::kOff) {
  if (!active_) return;
  // As torch.autocast.__enter__: remember, switch on, count the nesting.
  was_enabled_ = AutocastEnabled(device_type_);
  was_dtype_ = AutocastDtype(device_type_);
  SetAutocastEnabled(device_type_, true);
  SetAutocastDtype(device_type_, c10::ScalarType::BFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The cast weights are cached for the scope's lifetime; the outermost
  // scope drops them, so the next forward casts the stepped weights.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  SetAutocastEnabled(device_type_, was_enabled_);
  SetAutocastDtype(device_type_, was_dtype_);
}

torch::Tensor AutocastOperand(const torch::Tensor& t) {
  const c10::DeviceType type = t.device().type();
  if ((type != c10::kCPU && type != c10::kCUDA) || !t.is_floating_point() ||
      !AutocastEnabled(type)) {
    return t;
  }
  return t.to(AutocastDtype(type));
}

void ToChannelsLast(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (torch::Tensor& t : module.parameters(/*recurse=*/true)) {
    if (t.dim() == 4)
      t.set_data(t.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
  for (torch::Tensor& t : module.buffers(/*recurse=*/true)) {
    if (t.dim() == 4)
      t.set_data(t.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

void PlaceForTraining(Networks& nets, const c10::Device& device,
                      bool channels_last) {
  nets.G->to(device);
  nets.G_ema->to(device);
  nets.D->to(device);
  if (channels_last) {
    ToChannelsLast(*nets.G);
    ToChannelsLast(*nets.G_ema);
    ToChannelsLast(*nets.D);
  }
  nets.G->train();
  nets.D->train();
  nets.G_ema->eval();
}

}  // namespace pgan::trainer
