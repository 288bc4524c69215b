#include "common/zip_archive.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/file_util.h"
#include "tests/common/test_dir.h"

namespace pgan {
namespace {

using ::pgan::testing::TestDir;

bool Mentions(const absl::Status& status, const std::string& text) {
  return status.message().find(text) != absl::string_view::npos;
}

TEST(ZipArchiveTest, WrittenMembersReadBackInOrder) {
  TestDir dir;
  const std::string path = dir.file("a.zip");
  ASSERT_TRUE(WriteFileAtomically(dir.file("spill.bin"), "xxHELLOyy").ok());
  {
    auto writer = ZipWriter::Create(path);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->AddBytes("00000/b.png", "second").ok());
    ASSERT_TRUE((*writer)->AddFileRange("00000/a.png", dir.file("spill.bin"), 2, 5).ok());
    ASSERT_TRUE((*writer)->AddBytes("empty.txt", "").ok());
    ASSERT_TRUE((*writer)->Commit().ok());
  }
  auto reader = ZipReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->names(),
            (std::vector<std::string>{"00000/b.png", "00000/a.png", "empty.txt"}));
  EXPECT_TRUE((*reader)->Contains("00000/a.png"));
  EXPECT_FALSE((*reader)->Contains("00000/c.png"));
  EXPECT_EQ(*(*reader)->Read("00000/a.png"), "HELLO");
  EXPECT_EQ(*(*reader)->Read("00000/b.png"), "second");
  EXPECT_EQ(*(*reader)->Read("empty.txt"), "");
  EXPECT_EQ(*(*reader)->ReadPrefix("00000/b.png", 3), "sec");
  EXPECT_EQ((*reader)->Read("missing").status().code(), absl::StatusCode::kNotFound);
}

TEST(ZipArchiveTest, MembersAreStoredUncompressed) {
  TestDir dir;
  const std::string path = dir.file("stored.zip");
  const std::string zeros(100000, '\0');  // Would deflate to almost nothing.
  auto writer = ZipWriter::Create(path);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->AddBytes("zeros.bin", zeros).ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_GT(std::filesystem::file_size(path), zeros.size());
  // The raw bytes sit in the archive as they are.
  const std::string raw = *ReadFile(path);
  EXPECT_NE(raw.find(zeros), std::string::npos);
}

TEST(ZipArchiveTest, NothingAppearsBeforeCommitAndNothingStaysAfterDiscard) {
  TestDir dir;
  const std::string path = dir.file("out.zip");
  ASSERT_TRUE(WriteFileAtomically(path, "previous").ok());
  {
    auto writer = ZipWriter::Create(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->AddBytes("x", "y").ok());
    EXPECT_EQ(*ReadFile(path), "previous");
  }  // Destroyed without Commit().
  EXPECT_EQ(*ReadFile(path), "previous");
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1) << "a temporary file was left behind";
}

TEST(ZipArchiveTest, CommitReplacesTheDestination) {
  TestDir dir;
  const std::string path = dir.file("out.zip");
  ASSERT_TRUE(WriteFileAtomically(path, "previous").ok());
  auto writer = ZipWriter::Create(path);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->AddBytes("x", "y").ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  auto reader = ZipReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(*(*reader)->Read("x"), "y");
  EXPECT_EQ(std::filesystem::status(path).permissions() &
                std::filesystem::perms::others_read,
            std::filesystem::perms::others_read);
}

TEST(ZipArchiveTest, EmptyArchiveAndDuplicateNamesAreRefused) {
  TestDir dir;
  auto writer = ZipWriter::Create(dir.file("e.zip"));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->AddBytes("x", "1").ok());
  EXPECT_FALSE((*writer)->AddBytes("x", "2").ok());
  auto empty = ZipWriter::Create(dir.file("f.zip"));
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE((*empty)->Commit().ok());
  EXPECT_FALSE(std::filesystem::exists(dir.file("f.zip")));
}

TEST(ZipArchiveTest, OpenErrorsNameTheFile) {
  TestDir dir;
  auto missing = ZipReader::Open(dir.file("nope.zip"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Mentions(missing.status(), "nope.zip"));
  ASSERT_TRUE(WriteFileAtomically(dir.file("text.zip"), "just some text, no zip").ok());
  auto not_zip = ZipReader::Open(dir.file("text.zip"));
  ASSERT_FALSE(not_zip.ok());
  EXPECT_TRUE(Mentions(not_zip.status(), "text.zip")) << not_zip.status();
}

TEST(ZipArchiveTest, CorruptMemberIsAnErrorNamingArchiveAndMember) {
  TestDir dir;
  const std::string path = dir.file("c.zip");
  auto writer = ZipWriter::Create(path);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->AddBytes("img.png", "ABCDEFGHIJKLMNOP").ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  std::string raw = *ReadFile(path);
  const size_t at = raw.find("ABCDEFGHIJKLMNOP");
  ASSERT_NE(at, std::string::npos);
  raw[at + 3] = 'x';  // The CRC no longer matches.
  ASSERT_TRUE(WriteFileAtomically(path, raw).ok());
  auto reader = ZipReader::Open(path);
  ASSERT_TRUE(reader.ok());
  auto data = (*reader)->Read("img.png");
  ASSERT_FALSE(data.ok());
  EXPECT_TRUE(Mentions(data.status(), "c.zip:img.png")) << data.status();
}

}  // namespace
}  // namespace pgan
