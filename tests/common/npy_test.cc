#include "common/npy.h"

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "tests/common/test_dir.h"

namespace pgan {
namespace {

using ::pgan::testing::TestDir;

TEST(NpyTest, WriteThenReadRoundTrips) {
  TestDir dir;
  const std::vector<float> data = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(WriteNpy(dir.file("z.npy"), {2, 3}, data).ok());
  auto array = ReadNpy(dir.file("z.npy"));
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(array->data, data);
}

TEST(NpyTest, ReadsFloat64ByConverting) {
  // np.save of np.array([[0.5, -1.25]]) (float64), header padded to 64.
  std::string header =
      "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }";
  while ((10 + header.size() + 1) % 64) header.push_back(' ');
  header.push_back('\n');
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes.push_back(static_cast<char>(header.size()));
  bytes.push_back('\0');
  bytes += header;
  const double values[2] = {0.5, -1.25};
  bytes.append(reinterpret_cast<const char*>(values), sizeof(values));
  auto array = ParseNpy(bytes, "z.npy");
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->data, (std::vector<float>{0.5f, -1.25f}));
}

TEST(NpyTest, RejectsWrongDtypeTruncationAndGarbage) {
  std::string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }";
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes.push_back(static_cast<char>(header.size()));
  bytes.push_back('\0');
  auto wrong = ParseNpy(bytes + header + std::string(8, '\0'), "a.npy");
  EXPECT_NE(wrong.status().message().find("float32"), std::string::npos)
      << wrong.status();
  TestDir dir;
  ASSERT_TRUE(WriteNpy(dir.file("t.npy"), {4}, {1, 2, 3, 4}).ok());
  std::string full = *ReadFile(dir.file("t.npy"));
  auto truncated = ParseNpy(full.substr(0, full.size() - 3), "t.npy");
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos);
  EXPECT_FALSE(ParseNpy("hello", "h.npy").ok());
}

}  // namespace
}  // namespace pgan
