// Chooses the torch device from a user's string. Thread-safe.
#ifndef PGAN_TRAINER_DEVICE_H_
#define PGAN_TRAINER_DEVICE_H_

#include <optional>
#include <string>

#include <c10/core/Device.h>

#include "absl/status/statusor.h"

namespace pgan::trainer {

// "auto" (the first CUDA device if there is one, else the CPU), "cpu",
// "cuda" or "cuda:N". Errors name the value and what is available.
absl::StatusOr<c10::Device> ResolveDevice(const std::string& spec);

// Sets LibTorch's intra-op threads to `threads`, or to its default when 0.
// Always set explicitly before the first tensor op: left to lazy
// initialisation, the first multi-threaded oneDNN convolution backward of a
// process sums in another order than later ones, so a resumed process would
// not continue bit for bit.
void SetIntraOpThreads(int threads);

// The reference's GPU numerics (training_loop.py): TF32 off in CUDA matmuls
// and cuDNN unless `allow_tf32` (LibTorch's default allows it in cuDNN),
// cuDNN benchmarking on unless `nobench`. Process-wide.
void SetGpuNumerics(bool allow_tf32, bool nobench);

// A GPU's memory as LibTorch's caching allocator counts it, GB (2^30
// bytes): held by tensors now and at its peak, and the peak of what the
// allocator reserved from the driver, since the last ResetMemoryPeaks.
struct DeviceMemory {
  double allocated_gb = 0;
  double peak_allocated_gb = 0;
  double peak_reserved_gb = 0;
};

// nullopt for a CPU, or where LibTorch was built without CUDA.
std::optional<DeviceMemory> ReadDeviceMemory(const c10::Device& device);
// Starts the peaks again from the current values (the reference's
// torch.cuda.reset_peak_memory_stats at every tick); nothing on a CPU.
void ResetMemoryPeaks(const c10::Device& device);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_DEVICE_H_
