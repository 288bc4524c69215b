// SHA-256 (FIPS 180-4), for content keys: the dataset statistics cache and
// weight digests. Dependency-free so the trainer builds anywhere LibTorch
// does. Not for secrets (services/ uses OpenSSL for tokens). A Sha256 object
// is not thread-safe; the free function is.
#ifndef PGAN_COMMON_SHA256_H_
#define PGAN_COMMON_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace pgan {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // The digest as 64 lowercase hex digits. Ends the computation: call only
  // once.
  std::string HexDigest();

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_;
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string Sha256Hex(absl::string_view data);

}  // namespace pgan

#endif  // PGAN_COMMON_SHA256_H_
