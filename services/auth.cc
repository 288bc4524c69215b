#include "services/auth.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace pgan::services {
namespace {

constexpr size_t kMaxNameLength = 128;
constexpr absl::string_view kExpectedHeader = "expected \"Bearer <token>\"";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                    c == '.' || c == '_' || c == '-' || c == '@';
    if (!ok) return false;
  }
  return true;
}

bool ParseRole(absl::string_view text, Principal::Role* role) {
  if (text == "user") {
    *role = Principal::Role::kUser;
  } else if (text == "admin") {
    *role = Principal::Role::kAdmin;
  } else if (text == "worker") {
    *role = Principal::Role::kWorker;
  } else {
    return false;
  }
  return true;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

absl::string_view RoleName(Principal::Role role) {
  switch (role) {
    case Principal::Role::kUser:
      return "user";
    case Principal::Role::kAdmin:
      return "admin";
    case Principal::Role::kWorker:
      return "worker";
  }
  return "unknown";
}

bool CanSeeJob(const Principal& principal, const std::string& owner) {
  switch (principal.role) {
    case Principal::Role::kAdmin:
      return true;
    case Principal::Role::kUser:
      return !principal.name.empty() && principal.name == owner;
    case Principal::Role::kWorker:
      return false;
  }
  return false;
}

absl::StatusOr<TokenAuthenticator> TokenAuthenticator::FromFile(
    const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  return FromText(text, path);
}

absl::StatusOr<TokenAuthenticator> TokenAuthenticator::FromText(
    absl::string_view text, const std::string& source_name) {
  TokenAuthenticator result;
  // First line of each name and of each digest, for duplicate messages.
  absl::flat_hash_map<std::string, int> name_lines;
  absl::flat_hash_map<std::string, size_t> digest_entries;
  std::vector<int> entry_lines;

  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_name, ":", line_number, ": ", what));
    };
    const size_t comment = line.find('#');
    if (comment != absl::string_view::npos) line = line.substr(0, comment);
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    if (fields.size() != 3) {
      return error(absl::StrCat(
          "expected 3 fields \"name role sha256hex\", got ", fields.size()));
    }
    const absl::string_view name = fields[0];
    const absl::string_view role_text = fields[1];
    const absl::string_view hex = fields[2];

    if (!ValidName(name)) {
      return error(
          absl::StrCat("name: expected 1 to ", kMaxNameLength,
                       " letters, digits, '.', '_', '-' or '@', got \"",
                       name.substr(0, kMaxNameLength), "\""));
    }
    Principal::Role role;
    if (!ParseRole(role_text, &role)) {
      return error(absl::StrCat(
          "role: expected \"user\", \"admin\" or \"worker\", got \"",
          role_text.substr(0, 32), "\""));
    }
    // The digest field is never echoed: a token pasted by mistake must not
    // end up in a log.
    Digest digest;
    if (hex.size() != 2 * digest.size()) {
      return error(
          absl::StrCat("digest: expected 64 hex digits (the SHA-256 of the "
                       "token), got ",
                       hex.size(), " characters"));
    }
    for (size_t i = 0; i < digest.size(); ++i) {
      const int high = HexValue(hex[2 * i]);
      const int low = HexValue(hex[2 * i + 1]);
      if (high < 0 || low < 0) {
        return error(absl::StrCat(
            "digest: expected 64 hex digits (0-9, a-f), got another "
            "character at position ",
            2 * i + (high < 0 ? 1 : 2)));
      }
      digest[i] = static_cast<uint8_t>(high << 4 | low);
    }

    const auto [name_it, new_name] =
        name_lines.emplace(std::string(name), line_number);
    if (!new_name) {
      return error(absl::StrCat("duplicate name \"", name, "\" (first on line ",
                                name_it->second, ")"));
    }
    const std::string digest_key(digest.begin(), digest.end());
    const auto [digest_it, new_digest] =
        digest_entries.emplace(digest_key, result.entries_.size());
    if (!new_digest) {
      const size_t first = digest_it->second;
      return error(absl::StrCat("duplicate digest: \"", name,
                                "\" has the same token as \"",
                                result.entries_[first].principal.name,
                                "\" (line ", entry_lines[first], ")"));
    }
    result.entries_.push_back({digest, Principal{std::string(name), role}});
    entry_lines.push_back(line_number);
  }
  if (result.entries_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_name,
        ": no principals; expected lines \"name role sha256hex\""));
  }
  return result;
}

absl::Status CheckJobApiCaller(const Principal& principal) {
  if (principal.role == Principal::Role::kWorker) {
    return absl::PermissionDeniedError("a worker token cannot use the job API");
  }
  return absl::OkStatus();
}

absl::StatusOr<Principal> TokenAuthenticator::AuthenticateHeader(
    std::optional<absl::string_view> authorization_header) const {
  if (!authorization_header.has_value()) {
    return absl::UnauthenticatedError(
        "no credentials: send \"authorization: Bearer <token>\" (pgan: "
        "--token or PGAN_TOKEN)");
  }
  return Authenticate(*authorization_header);
}

absl::StatusOr<Principal> TokenAuthenticator::Authenticate(
    absl::string_view authorization_header) const {
  absl::string_view header = authorization_header;
  while (!header.empty() && IsSpace(header.front())) header.remove_prefix(1);
  while (!header.empty() && IsSpace(header.back())) header.remove_suffix(1);
  if (header.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("missing authorization header; ", kExpectedHeader));
  }
  // The scheme is not echoed either: a bare token would be taken for one.
  constexpr absl::string_view kScheme = "Bearer";
  if (!absl::StartsWithIgnoreCase(header, kScheme)) {
    return absl::UnauthenticatedError(
        absl::StrCat("malformed authorization header: not a bearer token; ",
                     kExpectedHeader));
  }
  absl::string_view token = header.substr(kScheme.size());
  if (token.empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "malformed authorization header: no token after \"Bearer\"; ",
        kExpectedHeader));
  }
  if (token.front() != ' ') {
    return absl::UnauthenticatedError(
        absl::StrCat("malformed authorization header: not a bearer token; ",
                     kExpectedHeader));
  }
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  for (char c : token) {
    if (IsSpace(c)) {
      return absl::UnauthenticatedError(absl::StrCat(
          "malformed authorization header: whitespace inside the token; ",
          kExpectedHeader));
    }
  }

  const Digest digest = Sha256Digest(token);
  // Every entry is compared, without early exit or a branch on the result.
  size_t found = 0;  // Index + 1 of the match; digests are unique.
  for (size_t i = 0; i < entries_.size(); ++i) {
    const size_t equal = static_cast<size_t>(
        CRYPTO_memcmp(digest.data(), entries_[i].digest.data(),
                      digest.size()) == 0);
    found |= (0 - equal) & (i + 1);
  }
  if (found == 0) {
    return absl::UnauthenticatedError("invalid bearer token");
  }
  return entries_[found - 1].principal;
}

std::vector<Principal> TokenAuthenticator::principals() const {
  std::vector<Principal> result;
  result.reserve(entries_.size());
  for (const Entry& entry : entries_) result.push_back(entry.principal);
  return result;
}

}  // namespace pgan::services
