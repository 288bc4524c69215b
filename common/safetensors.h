// Reader and writer for the safetensors format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range, then
// the raw little-endian data. The reader maps the file read-only and checks
// every bound, so a truncated or hostile file is an error, never a crash.
// Torch-free. A SafetensorsFile is immutable after Open(): safe to read from
// several threads.
#ifndef PGAN_COMMON_SAFETENSORS_H_
#define PGAN_COMMON_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pgan {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// "F32", "I64", ... as written in safetensors headers.
const char* DTypeName(DType dtype);
absl::StatusOr<DType> ParseDType(const std::string& name);
size_t DTypeSize(DType dtype);

struct TensorEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // Points into the mapped file.
  size_t nbytes = 0;
};

class SafetensorsFile {
 public:
  // Maps and validates `path`. Errors name the file and what is wrong.
  static absl::StatusOr<SafetensorsFile> Open(const std::string& path);

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  // Entries in file order (ascending data offset).
  const std::vector<TensorEntry>& tensors() const { return tensors_; }
  // nullptr if absent.
  const TensorEntry* Find(const std::string& name) const;
  // The "__metadata__" map (string to string), empty if absent.
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }

 private:
  SafetensorsFile() = default;

  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::vector<TensorEntry> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// One tensor to write. `data` must hold product(shape) * DTypeSize(dtype)
// bytes, little-endian, C order.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Writes a safetensors file atomically (temporary file + fsync + rename).
// Tensor names must be unique and not "__metadata__".
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata);

}  // namespace pgan

#endif  // PGAN_COMMON_SAFETENSORS_H_
