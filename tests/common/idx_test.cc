#include "common/idx.h"

#include <zlib.h>

#include <gtest/gtest.h>

#include <string>

#include "common/file_util.h"
#include "tests/common/test_dir.h"

namespace pgan {
namespace {

using ::pgan::testing::TestDir;

// An IDX3 unsigned-byte file of `count` images of rows x cols, pixel value
// (i + r + c) % 256.
std::string Idx3(int count, int rows, int cols) {
  std::string s = {0, 0, 8, 3};
  for (int v : {count, rows, cols}) {
    for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>(v >> shift));
  }
  for (int i = 0; i < count; ++i) {
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) s.push_back(static_cast<char>((i + r + c) % 256));
    }
  }
  return s;
}

void WriteGzip(const std::string& path, const std::string& data) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, data.data(), data.size()), static_cast<int>(data.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

TEST(IdxTest, ReadsGzipAndPlainFiles) {
  TestDir dir;
  WriteGzip(dir.file("a-images-idx3-ubyte.gz"), Idx3(3, 4, 5));
  ASSERT_TRUE(WriteFileAtomically(dir.file("plain"), Idx3(3, 4, 5)).ok());
  for (const std::string name : {"a-images-idx3-ubyte.gz", "plain"}) {
    auto idx = ReadIdxFile(dir.file(name));
    ASSERT_TRUE(idx.ok()) << idx.status();
    EXPECT_EQ(idx->dims, (std::vector<int64_t>{3, 4, 5}));
    ASSERT_EQ(idx->data.size(), 60u);
    EXPECT_EQ(idx->data[2 * 20 + 3 * 5 + 4], 9);  // image 2, row 3, col 4
  }
}

TEST(IdxTest, TruncatedDataIsAnErrorNamingTheFile) {
  TestDir dir;
  std::string data = Idx3(3, 4, 5);
  data.resize(data.size() - 7);
  WriteGzip(dir.file("short.gz"), data);
  auto idx = ReadIdxFile(dir.file("short.gz"));
  ASSERT_FALSE(idx.ok());
  EXPECT_NE(idx.status().message().find("short.gz"), std::string::npos);
  EXPECT_NE(idx.status().message().find("truncated"), std::string::npos);
}

TEST(IdxTest, CutGzipStreamIsAnError) {
  TestDir dir;
  WriteGzip(dir.file("full.gz"), Idx3(50, 28, 28));
  std::string gz = *ReadFile(dir.file("full.gz"));
  ASSERT_TRUE(WriteFileAtomically(dir.file("cut.gz"), gz.substr(0, gz.size() / 2)).ok());
  auto idx = ReadIdxFile(dir.file("cut.gz"));
  ASSERT_FALSE(idx.ok());
  EXPECT_NE(idx.status().message().find("cut.gz"), std::string::npos);
}

TEST(IdxTest, WrongMagicOrTypeOrMissingFileIsAnError) {
  TestDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.file("text"), "hello world").ok());
  EXPECT_FALSE(ReadIdxFile(dir.file("text")).ok());
  std::string floats = Idx3(1, 1, 1);
  floats[2] = 0x0d;  // float32 data
  ASSERT_TRUE(WriteFileAtomically(dir.file("floats"), floats).ok());
  auto status = ReadIdxFile(dir.file("floats")).status();
  EXPECT_NE(status.message().find("not supported"), std::string::npos) << status;
  EXPECT_EQ(ReadIdxFile(dir.file("absent.gz")).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace pgan
