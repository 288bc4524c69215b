// Bearer-token authentication for the coordinator: who is calling, from the
// `authorization` header ("Bearer <token>"), against a token file that holds
// only SHA-256 digests of the tokens. Torch-free.
//
// Token file format (UTF-8/ASCII text, one principal per line):
//
//   # comment: '#' starts a comment, to the end of the line
//   <name> <role> <sha256hex>
//
//   name       letters, digits, '.', '_', '-' and '@', 1 to 128 characters,
//              unique in the file. Jobs are owned by this name.
//   role       "user" (submits and sees its own jobs), "admin" (sees every
//              job) or "worker" (a training worker: sees no jobs).
//   sha256hex  the SHA-256 of the token as 64 hex digits (either case),
//              unique in the file, e.g. from
//              `printf %s "$TOKEN" | sha256sum`.
//
// Fields are separated by spaces or tabs; blank lines are allowed, and so are
// CRLF line endings. A file with no principal is an error. The tokens
// themselves never appear in the file or in any message.
//
// Thread-safe: a TokenAuthenticator is immutable once built.
#ifndef PGAN_SERVICES_AUTH_H_
#define PGAN_SERVICES_AUTH_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sha256.h"  // Sha256Hex, for token files.

namespace pgan::services {

struct Principal {
  enum class Role { kUser, kAdmin, kWorker };

  std::string name;
  Role role = Role::kUser;
};

// "user", "admin" or "worker": the spelling in the token file.
absl::string_view RoleName(Principal::Role role);

// Whether `principal` may see (list, inspect, cancel) a job owned by
// `owner`: admins see every job, users their own, workers none.
bool CanSeeJob(const Principal& principal, const std::string& owner);

// Users and admins may use the job API (gRPC or HTTP); a worker token is
// PERMISSION_DENIED.
absl::Status CheckJobApiCaller(const Principal& principal);

class TokenAuthenticator {
 public:
  // Reads and parses the token file at `path` (format above). Errors:
  // INVALID_ARGUMENT naming `path` and the line ("path:3: ..."), or the
  // error of reading the file.
  static absl::StatusOr<TokenAuthenticator> FromFile(const std::string& path);

  // Parses the contents of a token file; `source_name` stands for the file
  // in messages.
  static absl::StatusOr<TokenAuthenticator> FromText(
      absl::string_view text, const std::string& source_name);

  // The principal whose token `authorization_header` carries. The header
  // must be "Bearer <token>": the scheme in any case, then one or more
  // spaces, then a token without whitespace (surrounding whitespace is
  // ignored). UNAUTHENTICATED for a missing or malformed header or an
  // unknown token; the message never contains the token. The digest is
  // compared with every known one in constant time.
  absl::StatusOr<Principal> Authenticate(
      absl::string_view authorization_header) const;
  // nullopt: the request carried no authorization header at all
  // (UNAUTHENTICATED, saying how to send one).
  absl::StatusOr<Principal> AuthenticateHeader(
      std::optional<absl::string_view> authorization_header) const;

  // The principals in file order.
  std::vector<Principal> principals() const;

 private:
  using Digest = std::array<uint8_t, 32>;
  struct Entry {
    Digest digest;
    Principal principal;
  };

  TokenAuthenticator() = default;

  std::vector<Entry> entries_;
};

}  // namespace pgan::services

#endif  // PGAN_SERVICES_AUTH_H_
