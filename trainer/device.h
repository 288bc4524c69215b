// Chooses the torch device from a user's string. Thread-safe.
#ifndef PGAN_TRAINER_DEVICE_H_
#define PGAN_TRAINER_DEVICE_H_

#include <string>

#include <c10/core/Device.h>

#include "absl/status/statusor.h"

namespace pgan::trainer {

// "auto" (the first CUDA device if there is one, else the CPU), "cpu",
// "cuda" or "cuda:N". Errors name the value and what is available.
absl::StatusOr<c10::Device> ResolveDevice(const std::string& spec);

// Sets LibTorch's intra-op threads to `threads`, or to its default when 0.
// Always set explicitly before the first tensor op: left to lazy
// initialisation, the first multi-threaded oneDNN convolution backward of a
// process sums in another order than later ones, so a resumed process would
// not continue bit for bit.
void SetIntraOpThreads(int threads);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_DEVICE_H_
