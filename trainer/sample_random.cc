#include "trainer/sample_random.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace pgan::trainer {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::vector<int64_t> WithBatch(int64_t batch, torch::IntArrayRef shape) {
  std::vector<int64_t> out{batch};
  out.insert(out.end(), shape.begin(), shape.end());
  return out;
}

template <typename Draw>
torch::Tensor PerSample(std::vector<at::Generator>& gens,
                        torch::IntArrayRef sample_shape,
                        const torch::TensorOptions& options, Draw draw) {
  std::vector<int64_t> one = WithBatch(1, sample_shape);
  std::vector<torch::Tensor> parts;
  parts.reserve(gens.size());
  for (at::Generator& gen : gens) parts.push_back(draw(one, gen));
  torch::Tensor out = parts.empty()
                          ? torch::empty(WithBatch(0, sample_shape),
                                         options.device(torch::kCPU))
                          : torch::cat(parts, 0);
  return out.to(options.device());
}

}  // namespace

uint64_t MixSeed(std::initializer_list<uint64_t> words) {
  uint64_t h = 0x6a09e667f3bcc909ull;
  for (uint64_t w : words) h = SplitMix64(h ^ SplitMix64(w));
  return h;
}

SampleRandom::SampleRandom(const std::vector<uint64_t>& sample_keys) {
  gens_.reserve(sample_keys.size());
  for (uint64_t key : sample_keys) {
    gens_.push_back(at::make_generator<at::CPUGeneratorImpl>(key));
  }
}

torch::Tensor SampleRandom::Normal(torch::IntArrayRef sample_shape,
                                   const torch::TensorOptions& options) {
  const auto dtype = options.dtype();
  return PerSample(gens_, sample_shape, options,
                   [&](const std::vector<int64_t>& shape, at::Generator& gen) {
                     return torch::randn(shape, gen,
                                         torch::TensorOptions().dtype(dtype));
                   });
}

torch::Tensor SampleRandom::Uniform(torch::IntArrayRef sample_shape,
                                    const torch::TensorOptions& options) {
  const auto dtype = options.dtype();
  return PerSample(gens_, sample_shape, options,
                   [&](const std::vector<int64_t>& shape, at::Generator& gen) {
                     return torch::rand(shape, gen,
                                        torch::TensorOptions().dtype(dtype));
                   });
}

torch::Tensor SampleRandom::RandInt(int64_t low, int64_t high,
                                    torch::IntArrayRef sample_shape,
                                    const torch::TensorOptions& options) {
  return PerSample(gens_, sample_shape, options,
                   [&](const std::vector<int64_t>& shape, at::Generator& gen) {
                     return torch::randint(low, high, shape, gen,
                                           torch::TensorOptions().dtype(
                                               torch::kInt64));
                   });
}

}  // namespace pgan::trainer
