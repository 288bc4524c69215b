#include "common/safetensors.h"

#include <cstring>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "tests/common/test_dir.h"

namespace pgan {
namespace {

using ::pgan::testing::TestDir;

std::string Header(const std::string& json) {
  std::string out(8, '\0');
  const uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + json;
}

absl::Status OpenBytes(const TestDir& dir, const std::string& bytes) {
  const std::string path = dir.file("t.safetensors");
  EXPECT_TRUE(WriteFileAtomically(path, bytes).ok());
  return SafetensorsFile::Open(path).status();
}

TEST(SafetensorsTest, RoundTripKeepsNamesShapesDataAndMetadata) {
  TestDir dir;
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  const std::vector<int64_t> b = {42};
  const std::string path = dir.file("x.safetensors");
  ASSERT_TRUE(WriteSafetensors(path,
                               {{"a", DType::kF32, {2, 3}, a.data(), 24},
                                {"b.count", DType::kI64, {}, b.data(), 8}},
                               {{"pgan", "{\"x\":1}"}})
                  .ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->tensors().size(), 2u);
  const TensorEntry* ea = file->Find("a");
  ASSERT_NE(ea, nullptr);
  EXPECT_EQ(ea->dtype, DType::kF32);
  EXPECT_EQ(ea->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(ea->data, a.data(), 24), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ea->data) % 8, 0u) << "data not aligned";
  const TensorEntry* eb = file->Find("b.count");
  ASSERT_NE(eb, nullptr);
  EXPECT_TRUE(eb->shape.empty());
  EXPECT_EQ(*static_cast<const int64_t*>(eb->data), 42);
  EXPECT_EQ(file->metadata().at("pgan"), "{\"x\":1}");
  EXPECT_EQ(file->Find("missing"), nullptr);
}

TEST(SafetensorsTest, TruncatedDataIsAnErrorNamingTheTensor) {
  TestDir dir;
  const std::string bytes =
      Header(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})") +
      std::string(8, '\0');
  absl::Status status = OpenBytes(dir, bytes);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("\"w\""), std::string::npos) << status;
  EXPECT_NE(status.message().find("truncated"), std::string::npos) << status;
}

TEST(SafetensorsTest, HostileHeadersAreRejected) {
  TestDir dir;
  const char* headers[] = {
      R"(not json)",
      R"([1,2])",
      R"({"w":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})",
      R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
      R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})",
      R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})",
      R"({"w":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,4]}})",
      R"({"w":{"dtype":"F32","shape":[1]}})",
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      R"({"__metadata__":{"k":5}})",
  };
  for (const char* header : headers) {
    absl::Status status = OpenBytes(dir, Header(header) + std::string(16, '\0'));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << header;
  }
}

TEST(SafetensorsTest, HeaderLengthBeyondFileIsRejected) {
  TestDir dir;
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(0xff);
  bytes[1] = static_cast<char>(0xff);
  bytes += "{}";
  EXPECT_EQ(OpenBytes(dir, bytes).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenBytes(dir, "abc").code(), absl::StatusCode::kInvalidArgument);
}

TEST(SafetensorsTest, MissingFileIsNotFound) {
  EXPECT_EQ(SafetensorsFile::Open("/nonexistent/x.safetensors").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(SafetensorsTest, WriterRejectsDuplicateNamesAndWrongSizes) {
  TestDir dir;
  const float v[2] = {1, 2};
  EXPECT_FALSE(WriteSafetensors(dir.file("d"),
                                {{"a", DType::kF32, {1}, v, 4},
                                 {"a", DType::kF32, {1}, v, 4}},
                                {})
                   .ok());
  EXPECT_FALSE(
      WriteSafetensors(dir.file("s"), {{"a", DType::kF32, {3}, v, 8}}, {}).ok());
}

}  // namespace
}  // namespace pgan
