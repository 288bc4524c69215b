// Stand-in weights for the FID Inception-v3, for tests that need an
// extractor without the 92 MB published file: every tensor of
// pt_inception-2015-12-05-6726825d.pth by name and shape (fc and
// num_batches_tracked included), random from a seeded generator.
#ifndef PGAN_TESTS_TRAINER_INCEPTION_WEIGHTS_H_
#define PGAN_TESTS_TRAINER_INCEPTION_WEIGHTS_H_

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "common/safetensors.h"
#include "trainer/inception.h"
#include "trainer/state_dict.h"

namespace pgan::testing {

// Uniform draws (several times cheaper than normal ones): convs He-scaled,
// BatchNorms near identity (gains in [0.5, 1.5), running variances in
// [0.5, 2)), so features stay finite and depend on the input through all 94
// layers. The same seed gives the same tensors.
inline std::map<std::string, torch::Tensor> MakeInceptionTestWeights(
    uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  // Names and shapes come from the network; values are drawn in key order.
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& [key, tensor] :
       trainer::StateDict(*trainer::InceptionV3())) {
    shapes.emplace(key, tensor.sizes().vec());
  }
  shapes["fc.weight"] = {1008, 2048};
  shapes["fc.bias"] = {1008};
  std::map<std::string, torch::Tensor> out;
  for (const auto& [key, shape] : shapes) {
    torch::Tensor value;
    // Uniform in [-bound, bound).
    auto symmetric = [&](double bound) {
      return (torch::rand(shape, gen) * 2 - 1) * bound;
    };
    if (absl::EndsWith(key, "num_batches_tracked")) {
      value = torch::zeros(shape, torch::kLong);
    } else if (absl::EndsWith(key, "conv.weight")) {
      const double fan_in = static_cast<double>(shape[1] * shape[2] * shape[3]);
      value = symmetric(std::sqrt(6.0 / fan_in));
    } else if (absl::EndsWith(key, "bn.weight")) {
      value = torch::rand(shape, gen) + 0.5;
    } else if (absl::EndsWith(key, "running_var")) {
      value = torch::rand(shape, gen) * 1.5 + 0.5;
    } else if (key == "fc.weight") {
      value = symmetric(0.02);
    } else {  // bn.bias, running_mean, fc.bias
      value = symmetric(0.2);
    }
    out.emplace(key, value);
  }
  return out;
}

// Writes `tensors` (any dtypes safetensors has) to a .safetensors file.
inline absl::Status WriteTensorsAsSafetensors(
    const std::string& path,
    const std::map<std::string, torch::Tensor>& tensors) {
  std::vector<torch::Tensor> keep_alive;
  std::vector<TensorToWrite> entries;
  for (const auto& [key, tensor] : tensors) {
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    TensorToWrite entry;
    entry.name = key;
    switch (cpu.scalar_type()) {
      case torch::kFloat:
        entry.dtype = DType::kF32;
        break;
      case torch::kHalf:
        entry.dtype = DType::kF16;
        break;
      case torch::kDouble:
        entry.dtype = DType::kF64;
        break;
      case torch::kLong:
        entry.dtype = DType::kI64;
        break;
      case torch::kInt:
        entry.dtype = DType::kI32;
        break;
      default:
        return absl::InvalidArgumentError("unsupported dtype for " + key);
    }
    entry.shape = cpu.sizes().vec();
    entry.data = cpu.data_ptr();
    entry.nbytes = cpu.numel() * cpu.element_size();
    keep_alive.push_back(cpu);
    entries.push_back(entry);
  }
  return WriteSafetensors(path, entries, {});
}

// MakeInceptionTestWeights(seed) written to `path`.
inline absl::Status WriteInceptionTestWeights(const std::string& path,
                                              uint64_t seed = 0) {
  return WriteTensorsAsSafetensors(path, MakeInceptionTestWeights(seed));
}

}  // namespace pgan::testing

#endif  // PGAN_TESTS_TRAINER_INCEPTION_WEIGHTS_H_
