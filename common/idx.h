// Reader for IDX files, the format of MNIST and Fashion-MNIST
// (train-images-idx3-ubyte.gz and friends), gzip-compressed or plain.
// Only unsigned-byte data, the type those data sets use. Torch-free;
// no shared state, thread-safe.
#ifndef PGAN_COMMON_IDX_H_
#define PGAN_COMMON_IDX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pgan {

// An IDX array: dims[0] items of dims[1] x dims[2] x ... bytes, row-major.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};

// Reads a whole IDX file (gzip detected by content, so both `x.gz` and an
// uncompressed copy work). Errors name the file: missing, corrupt gzip, a
// header that is not IDX unsigned-byte, fewer or more bytes than the header
// announces.
absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path);

}  // namespace pgan

#endif  // PGAN_COMMON_IDX_H_
