#include "common/file_util.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

namespace pgan {
namespace {

namespace fs = std::filesystem;

class FileUtilTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pgan_file_util_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(FileUtilTest, WriteThenReadReturnsSameBytes) {
  const std::string path = (dir_ / "a.bin").string();
  const std::string data("x\0y\nz", 5);
  ASSERT_TRUE(WriteFileAtomically(path, data).ok());
  auto read = ReadFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, data);
}

TEST_F(FileUtilTest, FailedWriteLeavesPreviousFileAndNoTemporary) {
  const std::string path = (dir_ / "keep.txt").string();
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  absl::Status status = WriteFileAtomically(path, [&](int fd) {
    WriteAll(fd, "partial", 7, path).IgnoreError();
    return absl::DataLossError("simulated failure mid-write");
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(*ReadFile(path), "old");
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1) << "a temporary file was left behind";
}

TEST_F(FileUtilTest, ReadingMissingFileIsNotFound) {
  auto read = ReadFile((dir_ / "missing").string());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(read.status().message().find("missing"), std::string::npos);
}

TEST_F(FileUtilTest, ListFilesRecursivelyGivesRelativePathsAndSkipsBrokenLinks) {
  fs::create_directories(dir_ / "a" / "b");
  ASSERT_TRUE(WriteFileAtomically((dir_ / "top.png").string(), "1").ok());
  ASSERT_TRUE(WriteFileAtomically((dir_ / "a" / "b" / "deep.png").string(), "2").ok());
  fs::create_symlink(dir_ / "nowhere", dir_ / "a" / "broken.png");
  auto files = ListFilesRecursively(dir_.string() + "/");
  ASSERT_TRUE(files.ok()) << files.status();
  std::sort(files->begin(), files->end());
  EXPECT_EQ(*files, (std::vector<std::string>{"a/b/deep.png", "top.png"}));
  EXPECT_FALSE(ListFilesRecursively((dir_ / "missing").string()).ok());
}

}  // namespace
}  // namespace pgan
