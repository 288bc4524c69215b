#include "common/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace pgan {
namespace {

// Only an OpenSSL without SHA-256 (or out of memory) fails these: nothing
// could be keyed or authenticated then.
void Check(int ok) {
  if (ok != 1) std::abort();
}

}  // namespace

struct Sha256::Context {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  Check(context_->ctx != nullptr);
  Check(EVP_DigestInit_ex(context_->ctx, EVP_sha256(), nullptr));
}

Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t size) {
  Check(EVP_DigestUpdate(context_->ctx, data, size));
}

std::array<uint8_t, 32> Sha256::Digest() {
  std::array<uint8_t, 32> digest;
  unsigned int size = 0;
  Check(EVP_DigestFinal_ex(context_->ctx, digest.data(), &size));
  Check(size == digest.size() ? 1 : 0);
  return digest;
}

std::string Sha256::HexDigest() {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (uint8_t byte : Digest()) {
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 0xf]);
  }
  return hex;
}

std::array<uint8_t, 32> Sha256Digest(absl::string_view data) {
  Sha256 sha;
  sha.Update(data);
  return sha.Digest();
}

std::string Sha256Hex(absl::string_view data) {
  Sha256 sha;
  sha.Update(data);
  return sha.HexDigest();
}

}  // namespace pgan
