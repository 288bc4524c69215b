#include "trainer/sampler.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pgan::trainer {

absl::Status InfiniteSamplerOptions::Validate() const {
  if (size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler: the dataset is empty (size ", size, ")"));
  }
  if (num_replicas <= 0 || rank < 0 || rank >= num_replicas) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampler: rank ", rank, " is not in [0, num_replicas = ", num_replicas, ")"));
  }
  if (!(window_size >= 0.0 && window_size <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler: window_size ", window_size, " is not in [0, 1]"));
  }
  return absl::OkStatus();
}

InfiniteSampler::InfiniteSampler(const InfiniteSamplerOptions& options)
    : options_(options), rng_(options.seed), order_(options.size) {
  for (int64_t i = 0; i < options.size; ++i) order_[i] = i;
  if (options.shuffle) {
    rng_.Shuffle(&order_);
    // np.rint rounds halves to even, as nearbyint does in the default mode.
    window_ = static_cast<int64_t>(
        std::nearbyint(static_cast<double>(options.size) * options.window_size));
  }
}

absl::StatusOr<InfiniteSampler> InfiniteSampler::Create(
    const InfiniteSamplerOptions& options, int64_t position) {
  if (absl::Status status = options.Validate(); !status.ok()) return status;
  if (position < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler: negative start position ", position));
  }
  InfiniteSampler sampler(options);
  while (sampler.position_ < position) sampler.Next();
  return sampler;
}

int64_t InfiniteSampler::Next() {
  const int64_t n = options_.size;
  while (true) {
    const int64_t i = step_ % n;
    const bool mine = step_ % options_.num_replicas == options_.rank;
    // The reference yields before it swaps.
    const int64_t value = order_[i];
    if (window_ >= 2) {
      // Python's % is non-negative for a positive modulus.
      const int64_t j = ((i - rng_.RandInt(window_)) % n + n) % n;
      std::swap(order_[i], order_[j]);
    }
    ++step_;
    if (mine) {
      ++position_;
      return value;
    }
  }
}

}  // namespace pgan::trainer
