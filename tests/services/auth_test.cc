// Bearer-token authentication: SHA-256 vectors, each role authenticates from
// a token file, bad headers and unknown tokens are UNAUTHENTICATED without
// echoing the token, and every malformed file line is named.
#include "services/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "tests/common/test_dir.h"

namespace pgan::services {
namespace {

using ::pgan::testing::TestDir;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Role = Principal::Role;

constexpr char kAliceToken[] = "alice-secret-token-0123456789";
constexpr char kRootToken[] = "root-secret-token-abcdef";
constexpr char kWorkerToken[] = "worker-secret-token-XYZ";

std::string GoodText() {
  return absl::StrCat(
      "# pgan tokens\n"
      "\n",
      "alice user ", Sha256Hex(kAliceToken), "\n", "  root\tadmin  ",
      absl::AsciiStrToUpper(Sha256Hex(kRootToken)),
      "  # upper-case digest, trailing comment\r\n", "worker-0 worker ",
      Sha256Hex(kWorkerToken), "\n");
}

TEST(Sha256HexTest, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(
      Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

class TokenAuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("tokens.txt");
    ASSERT_TRUE(WriteFileAtomically(path_, GoodText()).ok());
    absl::StatusOr<TokenAuthenticator> auth =
        TokenAuthenticator::FromFile(path_);
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_.emplace(*std::move(auth));
  }

  // The message of the error for `header`, which must be UNAUTHENTICATED.
  std::string Rejection(const std::string& header) const {
    const absl::StatusOr<Principal> principal = auth_->Authenticate(header);
    EXPECT_EQ(principal.status().code(), absl::StatusCode::kUnauthenticated)
        << "header \"" << header << "\": " << principal.status();
    return std::string(principal.status().message());
  }

  TestDir dir_;
  std::string path_;
  std::optional<TokenAuthenticator> auth_;
};

TEST_F(TokenAuthenticatorTest, EachRoleAuthenticates) {
  struct Case {
    std::string header;
    std::string name;
    Role role;
  };
  const Case cases[] = {
      {absl::StrCat("Bearer ", kAliceToken), "alice", Role::kUser},
      {absl::StrCat("Bearer ", kRootToken), "root", Role::kAdmin},
      {absl::StrCat("Bearer ", kWorkerToken), "worker-0", Role::kWorker},
      // Scheme in any case, several spaces, surrounding whitespace.
      {absl::StrCat("bearer ", kAliceToken), "alice", Role::kUser},
      {absl::StrCat("BEARER    ", kRootToken, " \r\n"), "root", Role::kAdmin},
      {absl::StrCat("  bEaReR ", kWorkerToken), "worker-0", Role::kWorker},
  };
  for (const Case& c : cases) {
    const absl::StatusOr<Principal> principal = auth_->Authenticate(c.header);
    ASSERT_TRUE(principal.ok()) << c.header << ": " << principal.status();
    EXPECT_EQ(principal->name, c.name) << c.header;
    EXPECT_EQ(principal->role, c.role) << c.header;
  }
}

TEST_F(TokenAuthenticatorTest, PrincipalsInFileOrder) {
  const std::vector<Principal> principals = auth_->principals();
  ASSERT_EQ(principals.size(), 3u);
  EXPECT_EQ(principals[0].name, "alice");
  EXPECT_EQ(principals[1].name, "root");
  EXPECT_EQ(principals[1].role, Role::kAdmin);
  EXPECT_EQ(principals[2].name, "worker-0");
  EXPECT_EQ(RoleName(principals[2].role), "worker");
}

TEST_F(TokenAuthenticatorTest, BadHeadersAreUnauthenticated) {
  EXPECT_THAT(Rejection(""), HasSubstr("missing authorization header"));
  EXPECT_THAT(Rejection("   "), HasSubstr("missing authorization header"));
  EXPECT_THAT(Rejection("Basic xyz"), HasSubstr("not a bearer token"));
  EXPECT_THAT(Rejection("Bearer"), HasSubstr("no token after \"Bearer\""));
  EXPECT_THAT(Rejection("Bearer   "), HasSubstr("no token after \"Bearer\""));
  EXPECT_THAT(Rejection(absl::StrCat("Bearer", kAliceToken)),
              HasSubstr("not a bearer token"));
  EXPECT_THAT(Rejection(absl::StrCat("Bearer ", kAliceToken, " extra")),
              HasSubstr("whitespace inside the token"));
  EXPECT_THAT(Rejection("Bearer wrong-token"),
              HasSubstr("invalid bearer token"));
  // The token alone, or a digest from the file, is not a token either.
  EXPECT_THAT(Rejection(kAliceToken), HasSubstr("not a bearer token"));
  EXPECT_THAT(Rejection(absl::StrCat("Bearer ", Sha256Hex(kAliceToken))),
              HasSubstr("invalid bearer token"));
  // A token differing in one character is unknown.
  std::string near = kAliceToken;
  near.back() = 'X';
  EXPECT_THAT(Rejection(absl::StrCat("Bearer ", near)),
              HasSubstr("invalid bearer token"));
}

TEST_F(TokenAuthenticatorTest, MessagesNeverContainTheToken) {
  const std::string token = "s3cr3t-never-logged";
  for (const std::string& header :
       {absl::StrCat("Bearer ", token), absl::StrCat("Basic ", token), token,
        absl::StrCat("Bearer ", token, " ", token),
        absl::StrCat("Bearer", token)}) {
    EXPECT_THAT(Rejection(header), Not(HasSubstr(token))) << header;
  }
}

TEST_F(TokenAuthenticatorTest, MissingFileNamesThePath) {
  const absl::StatusOr<TokenAuthenticator> auth =
      TokenAuthenticator::FromFile(dir_.file("absent.txt"));
  ASSERT_FALSE(auth.ok());
  EXPECT_THAT(std::string(auth.status().message()), HasSubstr("absent.txt"));
}

TEST(CanSeeJobTest, AdminAllUserOwnWorkerNone) {
  const Principal admin{"root", Role::kAdmin};
  const Principal user{"alice", Role::kUser};
  const Principal worker{"worker-0", Role::kWorker};
  EXPECT_TRUE(CanSeeJob(admin, "alice"));
  EXPECT_TRUE(CanSeeJob(admin, "bob"));
  EXPECT_TRUE(CanSeeJob(user, "alice"));
  EXPECT_FALSE(CanSeeJob(user, "bob"));
  EXPECT_FALSE(CanSeeJob(user, "alice2"));
  EXPECT_FALSE(CanSeeJob(user, ""));
  EXPECT_FALSE(CanSeeJob(worker, "worker-0"));
  EXPECT_FALSE(CanSeeJob(worker, "alice"));
}

// The INVALID_ARGUMENT message for `text`.
std::string FileError(const std::string& text) {
  const absl::StatusOr<TokenAuthenticator> auth =
      TokenAuthenticator::FromText(text, "tokens.txt");
  EXPECT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument)
      << auth.status();
  return std::string(auth.status().message());
}

TEST(TokenFileTest, EachMalformedLineIsNamed) {
  const std::string good = Sha256Hex("a");
  const std::string other = Sha256Hex("b");
  const std::string header = "# tokens\nalice user " + good + "\n";  // Line 2.
  struct Case {
    std::string line3;
    std::string expected;  // Start of the message.
  };
  const Case cases[] = {
      {"bob user",
       "tokens.txt:3: expected 3 fields \"name role sha256hex\", "
       "got 2"},
      {"bob user " + other + " extra",
       "tokens.txt:3: expected 3 fields \"name role sha256hex\", got 4"},
      {"bob root " + other,
       "tokens.txt:3: role: expected \"user\", \"admin\" or \"worker\", got "
       "\"root\""},
      {"bob User " + other, "tokens.txt:3: role: expected"},
      {"bob user " + other.substr(1),
       "tokens.txt:3: digest: expected 64 hex digits (the SHA-256 of the "
       "token), got 63 characters"},
      {"bob user " + other + "0",
       "tokens.txt:3: digest: expected 64 hex "
       "digits (the SHA-256 of the token), got 65"},
      {"bob user g" + other.substr(1),
       "tokens.txt:3: digest: expected 64 hex digits (0-9, a-f), got another "
       "character at position 1"},
      {"bob user " + other.substr(0, 63) + "z",
       "tokens.txt:3: digest: expected 64 hex digits (0-9, a-f), got another "
       "character at position 64"},
      {"alice admin " + other,
       "tokens.txt:3: duplicate name \"alice\" (first on line 2)"},
      {"bob user " + good,
       "tokens.txt:3: duplicate digest: \"bob\" has the same token as "
       "\"alice\" (line 2)"},
      {"bob user " + absl::AsciiStrToUpper(good),
       "tokens.txt:3: duplicate digest"},
      {"bo/b user " + other, "tokens.txt:3: name: expected 1 to 128"},
      {std::string(129, 'b') + " user " + other,
       "tokens.txt:3: name: expected 1 to 128"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(FileError(header + c.line3 + "\n"), StartsWith(c.expected))
        << c.line3;
  }
}

TEST(TokenFileTest, EmptyFileIsAnError) {
  for (const std::string text :
       {"", "\n\n", "# only a comment\n", "   \t\n# another\n  # x y z\n"}) {
    EXPECT_THAT(FileError(text), StartsWith("tokens.txt: no principals"))
        << text;
  }
}

TEST(TokenFileTest, DigestFieldIsNeverEchoed) {
  // A raw token pasted in place of its digest must not reach a log.
  const std::string token = "pasted-raw-token";
  EXPECT_THAT(FileError("alice user " + token + "\n"), Not(HasSubstr(token)));
}

TEST(TokenFileTest, LastLineWithoutNewlineCounts) {
  const absl::StatusOr<TokenAuthenticator> auth = TokenAuthenticator::FromText(
      "alice user " + Sha256Hex("t"), "tokens.txt");
  ASSERT_TRUE(auth.ok()) << auth.status();
  const absl::StatusOr<Principal> principal = auth->Authenticate("Bearer t");
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->name, "alice");
}

}  // namespace
}  // namespace pgan::services
