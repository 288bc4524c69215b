#include "common/numpy_random.h"

#include <cmath>
#include <utility>

namespace pgan {

double NumpyRandomState::RandomSample() {
  const uint32_t a = mt_() >> 5;
  const uint32_t b = mt_() >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

double NumpyRandomState::StandardNormal() {
  if (has_gauss_) {
    has_gauss_ = false;
    return gauss_;
  }
  double x1, x2, r2;
  do {
    x1 = 2.0 * RandomSample() - 1.0;
    x2 = 2.0 * RandomSample() - 1.0;
    r2 = x1 * x1 + x2 * x2;
  } while (r2 >= 1.0 || r2 == 0.0);
  const double f = std::sqrt(-2.0 * std::log(r2) / r2);
  gauss_ = f * x1;
  has_gauss_ = true;
  return f * x2;
}

std::vector<float> NumpyRandomState::Randn(size_t count) {
  std::vector<float> out(count);
  for (float& v : out) v = static_cast<float>(StandardNormal());
  return out;
}

uint64_t NumpyRandomState::RandomInterval(uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;
  for (int shift = 1; shift <= 32; shift *= 2) mask |= mask >> shift;
  uint64_t value;
  if (max <= 0xffffffffULL) {
    do {
      value = mt_() & mask;
    } while (value > max);
  } else {
    do {
      const uint64_t high = mt_();
      value = ((high << 32) | mt_()) & mask;
    } while (value > max);
  }
  return value;
}

int64_t NumpyRandomState::RandInt(int64_t high) {
  return static_cast<int64_t>(RandomInterval(static_cast<uint64_t>(high - 1)));
}

void NumpyRandomState::Shuffle(std::vector<int64_t>* values) {
  for (size_t i = values->size(); i-- > 1;) {
    const size_t j = static_cast<size_t>(RandomInterval(i));
    std::swap((*values)[i], (*values)[j]);
  }
}

}  // namespace pgan
