#include "trainer/device.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#if PGAN_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"

namespace pgan::trainer {

absl::StatusOr<c10::Device> ResolveDevice(const std::string& spec) {
  const int64_t cuda_devices = static_cast<int64_t>(torch::cuda::device_count());
  if (spec == "auto") {
    return cuda_devices > 0 ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  }
  if (spec == "cpu") return c10::Device(c10::kCPU);
  int index = 0;
  if (spec == "cuda" ||
      (absl::StartsWith(spec, "cuda:") && absl::SimpleAtoi(spec.substr(5), &index))) {
    if (index < 0 || index >= cuda_devices) {
      return absl::InvalidArgumentError(absl::StrCat(
          "device \"", spec, "\": this machine has ", cuda_devices,
          " CUDA device(s)", cuda_devices == 0 ? " (or LibTorch lacks CUDA)" : ""));
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "device \"", spec, "\": expected auto, cpu, cuda or cuda:N"));
}

void SetIntraOpThreads(int threads) {
  at::set_num_threads(threads > 0 ? threads : at::get_num_threads());
}

void SetGpuNumerics(bool allow_tf32, bool nobench) {
  at::globalContext().setAllowTF32CuBLAS(allow_tf32);
  at::globalContext().setAllowTF32CuDNN(allow_tf32);
  at::globalContext().setBenchmarkCuDNN(!nobench);
}

std::optional<DeviceMemory> ReadDeviceMemory(const c10::Device& device) {
#if PGAN_TORCH_CUDA
  if (device.is_cuda()) {
    namespace alloc = c10::cuda::CUDACachingAllocator;
    const auto stats = alloc::getDeviceStats(device.index());
    // Index 0 is StatType::AGGREGATE (all pool sizes), in 1.13 and 2.x.
    constexpr double kGb = 1024.0 * 1024.0 * 1024.0;
    DeviceMemory m;
    m.allocated_gb = static_cast<double>(stats.allocated_bytes[0].current) / kGb;
    m.peak_allocated_gb = static_cast<double>(stats.allocated_bytes[0].peak) / kGb;
    m.peak_reserved_gb = static_cast<double>(stats.reserved_bytes[0].peak) / kGb;
    return m;
  }
#endif
  (void)device;
  return std::nullopt;
}

void ResetMemoryPeaks(const c10::Device& device) {
#if PGAN_TORCH_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
  }
#endif
  (void)device;
}

}  // namespace pgan::trainer
