// SHA-256 (FIPS 180-4) through OpenSSL's libcrypto, for content keys (the
// dataset statistics cache, weight digests) and the coordinator's hashed
// tokens. A Sha256 object is not thread-safe; the free functions are.
#ifndef PGAN_COMMON_SHA256_H_
#define PGAN_COMMON_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace pgan {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t size);
  void Update(absl::string_view data) { Update(data.data(), data.size()); }
  // The digest. Ends the computation: call one of them, once.
  std::array<uint8_t, 32> Digest();
  std::string HexDigest();  // 64 lowercase hex digits.

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

std::array<uint8_t, 32> Sha256Digest(absl::string_view data);
std::string Sha256Hex(absl::string_view data);

}  // namespace pgan

#endif  // PGAN_COMMON_SHA256_H_
