// Reads and writes NumPy .npy arrays (format versions 1-3) of float32 or
// float64, C order, little-endian: the latents files users hand to
// `pgan generate`. Torch-free, no shared state.
#ifndef PGAN_COMMON_NPY_H_
#define PGAN_COMMON_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pgan {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // float64 input is converted to float32.
};

// Parses .npy bytes; `name` is used in error messages.
absl::StatusOr<NpyArray> ParseNpy(const std::string& bytes,
                                  const std::string& name);
absl::StatusOr<NpyArray> ReadNpy(const std::string& path);

// Writes a float32 .npy file atomically.
absl::Status WriteNpy(const std::string& path, const std::vector<int64_t>& shape,
                      const std::vector<float>& data);

}  // namespace pgan

#endif  // PGAN_COMMON_NPY_H_
