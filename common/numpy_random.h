// NumPy's legacy RandomState (MT19937 + the polar Box-Muller gaussian + the
// masked-rejection bounded integers), so that `--seeds N` produces exactly the
// latents of the reference's gen_images.py (RandomState(seed).randn(1, z_dim))
// and the data sampler the reference's order (RandomState(seed).shuffle,
// randint). Not thread-safe: one instance per thread.
#ifndef PGAN_COMMON_NUMPY_RANDOM_H_
#define PGAN_COMMON_NUMPY_RANDOM_H_

#include <cstdint>
#include <random>
#include <vector>

namespace pgan {

class NumpyRandomState {
 public:
  explicit NumpyRandomState(uint32_t seed) : mt_(seed) {}

  // random_sample(): a double in [0, 1) with 53 random bits.
  double RandomSample();
  // standard_normal() / randn(): legacy polar method, caching the second value.
  double StandardNormal();
  std::vector<float> Randn(size_t count);

  // A uniform integer in [0, max] by masked rejection: draw 32 bits (64 bits,
  // high word first, when max >= 2^32), keep the bits of the smallest mask
  // covering max, retry while above max. This is NumPy's legacy
  // random_interval, used by RandomState.shuffle; max == 0 draws nothing.
  uint64_t RandomInterval(uint64_t max);
  // randint(high): a uniform integer in [0, high) with the same masked
  // rejection (NumPy's legacy bounded int64 path). high must be >= 1;
  // high == 1 draws nothing.
  int64_t RandInt(int64_t high);
  // shuffle(x) for a 1-D array: Fisher-Yates from the end, swapping x[i]
  // with x[RandomInterval(i)] for i = n-1 .. 1.
  void Shuffle(std::vector<int64_t>* values);

 private:
  std::mt19937 mt_;  // std::mt19937(seed) is init_genrand(seed), as NumPy's.
  bool has_gauss_ = false;
  double gauss_ = 0.0;
};

}  // namespace pgan

#endif  // PGAN_COMMON_NUMPY_RANDOM_H_
