// Per-sample random streams. Sample i of a batch draws from its own
// generator, seeded from a 64-bit key that the caller derives from
// (seed, iteration, global sample index, purpose). A sample's random numbers
// therefore do not depend on the batch it lands in, on the batch size, or on
// the process that runs it. Not thread-safe: one instance per forward pass.
#ifndef PGAN_TRAINER_SAMPLE_RANDOM_H_
#define PGAN_TRAINER_SAMPLE_RANDOM_H_

#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace pgan::trainer {

// Mixes words into one 64-bit seed (SplitMix64 finaliser on each step).
uint64_t MixSeed(std::initializer_list<uint64_t> words);

class SampleRandom {
 public:
  // One generator per entry of `sample_keys`.
  explicit SampleRandom(const std::vector<uint64_t>& sample_keys);

  int64_t batch_size() const { return static_cast<int64_t>(gens_.size()); }

  // [B, sample_shape...] standard normal / U[0, 1) / integers in [low, high),
  // generated on the CPU per sample and moved to `options`' device.
  torch::Tensor Normal(torch::IntArrayRef sample_shape,
                       const torch::TensorOptions& options);
  torch::Tensor Uniform(torch::IntArrayRef sample_shape,
                        const torch::TensorOptions& options);
  torch::Tensor RandInt(int64_t low, int64_t high,
                        torch::IntArrayRef sample_shape,
                        const torch::TensorOptions& options);

 private:
  std::vector<at::Generator> gens_;
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_SAMPLE_RANDOM_H_
