// The reference's InfiniteSampler (torch_utils/misc.py), index for index:
// a NumPy RandomState(seed) permutation of the dataset, reshuffled
// continuously by swapping each visited slot with one up to a window behind
// it, and striped over replicas. Its whole state is (options, position), so
// a snapshot stores the position and a resumed run continues the same order.
// Not thread-safe: one owner (the data loader) draws from it.
#ifndef PGAN_TRAINER_SAMPLER_H_
#define PGAN_TRAINER_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/numpy_random.h"

namespace pgan::trainer {

struct InfiniteSamplerOptions {
  // Number of dataset items (with --mirror, twice the number of images).
  int64_t size = 0;
  // This replica and the number of replicas: replica r yields the elements
  // at global steps r, r + R, r + 2R, ... of the shared sequence.
  int rank = 0;
  int num_replicas = 1;
  // false: 0, 1, ..., size - 1, 0, 1, ... (no randomness).
  bool shuffle = true;
  // NumPy RandomState seed, in [0, 2^32). The reference passes --seed.
  uint32_t seed = 0;
  // Fraction of the dataset that the continuous reshuffle reaches back:
  // window = rint(size * window_size) (ties to even, as np.rint). In [0, 1].
  double window_size = 0.5;

  absl::Status Validate() const;
};

class InfiniteSampler {
 public:
  // A sampler that has already returned `position` indices. Reaching it
  // replays the sequence from the seed: O(size) for the permutation plus
  // O(position * num_replicas) random draws (about 10 ns each, so a resume
  // after 25 M images costs well under a second).
  static absl::StatusOr<InfiniteSampler> Create(
      const InfiniteSamplerOptions& options, int64_t position = 0);

  // The next dataset index of this replica.
  int64_t Next();
  // Indices returned so far (plus the starting position).
  int64_t position() const { return position_; }
  const InfiniteSamplerOptions& options() const { return options_; }

 private:
  explicit InfiniteSampler(const InfiniteSamplerOptions& options);

  InfiniteSamplerOptions options_;
  NumpyRandomState rng_;
  std::vector<int64_t> order_;
  int64_t window_ = 0;
  int64_t step_ = 0;  // Global steps taken, over all replicas.
  int64_t position_ = 0;
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_SAMPLER_H_
