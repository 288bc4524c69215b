// NumPy's legacy RandomState (MT19937 + the polar Box-Muller gaussian), so
// that `--seeds N` produces exactly the latents of the reference's
// gen_images.py: np.random.RandomState(seed).randn(1, z_dim).
// Not thread-safe: one instance per thread.
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

 private:
  std::mt19937 mt_;  // std::mt19937(seed) is init_genrand(seed), as NumPy's.
  bool has_gauss_ = false;
  double gauss_ = 0.0;
};

}  // namespace pgan

#endif  // PGAN_COMMON_NUMPY_RANDOM_H_
