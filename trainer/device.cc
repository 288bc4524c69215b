#include "trainer/device.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

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

}  // namespace pgan::trainer
