#include "tools/dataset_command.h"

#include <zlib.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/image_io.h"
#include "common/resample.h"
#include "common/zip_archive.h"
#include "tests/common/test_dir.h"

namespace pgan::tools {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::TestDir;

// A w x h image whose pixels depend on `seed`, so images can be told apart.
Image MakeImage(int w, int h, int channels, int seed) {
  Image image{w, h, channels, {}};
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < channels; ++c) {
        image.pixels.push_back(static_cast<uint8_t>((seed * 40 + x * 9 + y * 5 + c * 70) % 256));
      }
    }
  }
  return image;
}

void Put(const TestDir& dir, const std::string& name, const Image& image) {
  fs::create_directories(fs::path(dir.file(name)).parent_path());
  ASSERT_TRUE(WritePng(dir.file(name), image).ok());
}

DatasetOptions Options(const std::string& source, const std::string& dest,
                       int resolution = 0, const std::string& transform = "",
                       int64_t max_images = -1) {
  DatasetOptions options;
  options.source = source;
  options.dest = dest;
  options.resolution = resolution;
  options.transform = transform;
  options.max_images = max_images;
  return options;
}

absl::Status Convert(const DatasetOptions& options) {
  std::ostringstream out;
  return RunDataset(options, out);
}

bool Mentions(const absl::Status& status, const std::string& text) {
  return status.message().find(text) != absl::string_view::npos;
}

// Every file in `dir` (recursively), for checking that nothing was left.
std::vector<std::string> Files(const fs::path& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path().filename().string());
  }
  return files;
}

TEST(DatasetCommandTest, FolderBecomesTheReferenceLayout) {
  TestDir dir;
  // Python's sorted() of Paths puts "a/x.png" before "a-c.png".
  Put(dir, "src/b.png", MakeImage(8, 8, 3, 1));
  Put(dir, "src/a-c.png", MakeImage(8, 8, 3, 2));
  Put(dir, "src/a/x.png", MakeImage(8, 8, 3, 3));
  ASSERT_TRUE(WriteFileAtomically(dir.file("src/notes.txt"), "ignored").ok());
  DatasetOptions options;
  options.source = dir.file("src");
  options.dest = dir.file("out/data.zip");  // The folder is created.
  std::ostringstream out;
  ASSERT_TRUE(RunDataset(options, out).ok());
  EXPECT_NE(out.str().find("Wrote 3 images (8x8 RGB, no labels)"), std::string::npos)
      << out.str();

  auto zip = ZipReader::Open(options.dest);
  ASSERT_TRUE(zip.ok()) << zip.status();
  EXPECT_EQ((*zip)->names(),
            (std::vector<std::string>{"00000/img00000000.png", "00000/img00000001.png",
                                      "00000/img00000002.png", "dataset.json"}));
  EXPECT_EQ(*(*zip)->Read("dataset.json"), R"({"labels": null})");
  const int expected_seed[] = {3, 2, 1};
  for (int i = 0; i < 3; ++i) {
    const std::string png = *(*zip)->Read("00000/img0000000" + std::to_string(i) + ".png");
    // Stored as PNG with compression level 0, as the reference writes.
    EXPECT_EQ(png, *EncodePng(MakeImage(8, 8, 3, expected_seed[i]), 0)) << i;
  }
}

TEST(DatasetCommandTest, LabelsComeFromTheSourceDatasetJson) {
  TestDir dir;
  Put(dir, "src/cat/0.png", MakeImage(4, 4, 3, 0));
  Put(dir, "src/dog/0.png", MakeImage(4, 4, 3, 1));
  ASSERT_TRUE(WriteFileAtomically(dir.file("src/dataset.json"),
                                  R"({"labels": [["dog/0.png", 1], ["cat/0.png", 0]]})")
                  .ok());
  DatasetOptions options = Options(dir.file("src"), dir.file("d.zip"));
  std::ostringstream out;
  ASSERT_TRUE(RunDataset(options, out).ok());
  EXPECT_NE(out.str().find("labels: 2 classes"), std::string::npos) << out.str();
  auto zip = ZipReader::Open(options.dest);
  ASSERT_TRUE(zip.ok());
  EXPECT_EQ(*(*zip)->Read("dataset.json"),
            R"({"labels": [["00000/img00000000.png", 0], ["00000/img00000001.png", 1]]})");
}

TEST(DatasetCommandTest, LabelsThatMissAnImageAreAnErrorNamingIt) {
  TestDir dir;
  Put(dir, "src/a.png", MakeImage(4, 4, 3, 0));
  Put(dir, "src/b.png", MakeImage(4, 4, 3, 1));
  ASSERT_TRUE(WriteFileAtomically(dir.file("src/dataset.json"),
                                  R"({"labels": [["a.png", 1]]})")
                  .ok());
  DatasetOptions options = Options(dir.file("src"), dir.file("d.zip"));
  const absl::Status status = Convert(options);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(Mentions(status, "b.png")) << status;
  EXPECT_TRUE(Mentions(status, "dataset.json")) << status;
  EXPECT_FALSE(fs::exists(options.dest));
  // --max-images 1 only needs the label of a.png.
  options.max_images = 1;
  EXPECT_TRUE(Convert(options).ok());
}

TEST(DatasetCommandTest, GrayBecomesRgbAndIsResizedWithLanczos) {
  TestDir dir;
  const Image gray = MakeImage(16, 16, 1, 5);
  Put(dir, "src/g.png", gray);
  DatasetOptions options = Options(dir.file("src"), dir.file("d.zip"), /*resolution=*/8);
  ASSERT_TRUE(Convert(options).ok());
  auto zip = ZipReader::Open(options.dest);
  ASSERT_TRUE(zip.ok());
  auto image = DecodeImage(*(*zip)->Read("00000/img00000000.png"), "x");
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->channels, 3);
  EXPECT_EQ(image->width, 8);
  EXPECT_EQ(image->pixels, GrayToRgb(*ResizeLanczos(gray, 8, 8)).pixels);
}

TEST(DatasetCommandTest, CenterCropTakesTheMiddleSquareOfAnySize) {
  TestDir dir;
  const Image wide = MakeImage(12, 8, 3, 1);
  const Image tall = MakeImage(5, 9, 1, 2);
  Put(dir, "src/a.png", wide);
  Put(dir, "src/b.png", tall);
  DatasetOptions options = Options(dir.file("src"), dir.file("d.zip"), /*resolution=*/4,
                         "center-crop");
  ASSERT_TRUE(Convert(options).ok());
  auto zip = ZipReader::Open(options.dest);
  ASSERT_TRUE(zip.ok());
  auto a = DecodeImage(*(*zip)->Read("00000/img00000000.png"), "a");
  auto b = DecodeImage(*(*zip)->Read("00000/img00000001.png"), "b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->pixels, ResizeLanczos(CenterCropSquare(wide), 4, 4)->pixels);
  EXPECT_EQ(b->pixels,
            ResizeLanczos(GrayToRgb(CenterCropSquare(tall)), 4, 4)->pixels);
}

TEST(DatasetCommandTest, BadImagesAreErrorsNamingTheFile) {
  struct Case {
    std::vector<std::pair<std::string, Image>> images;
    int resolution;
    std::string named;
  };
  const std::vector<Case> cases = {
      {{{"a.png", MakeImage(8, 8, 3, 0)}, {"b.png", MakeImage(16, 16, 3, 0)}}, 0, "b.png"},
      {{{"a.png", MakeImage(8, 8, 3, 0)}, {"b.png", MakeImage(16, 16, 3, 0)}}, 8, "b.png"},
      {{{"a.png", MakeImage(8, 4, 3, 0)}}, 4, "a.png"},
      {{{"a.png", MakeImage(12, 12, 3, 0)}}, 0, "a.png"},
  };
  for (const Case& c : cases) {
    TestDir dir;
    for (const auto& [name, image] : c.images) Put(dir, "src/" + name, image);
    DatasetOptions options = Options(dir.file("src"), dir.file("d.zip"), c.resolution);
    const absl::Status status = Convert(options);
    ASSERT_FALSE(status.ok()) << c.named;
    EXPECT_TRUE(Mentions(status, c.named)) << status;
    EXPECT_EQ(Files(dir.path()).size(), c.images.size()) << "left a file behind";
  }
  // A square non-power-of-two image is fine once a resolution is given.
  TestDir dir;
  Put(dir, "src/a.png", MakeImage(12, 12, 3, 0));
  EXPECT_TRUE(Convert(Options(dir.file("src"), dir.file("d.zip"), 8)).ok());
}

TEST(DatasetCommandTest, TruncatedImageFailsAndKeepsTheOldDataset) {
  TestDir dir;
  Put(dir, "src/a.png", MakeImage(8, 8, 3, 0));
  const std::string png = *EncodePng(MakeImage(8, 8, 3, 1), 0);
  ASSERT_TRUE(WriteFileAtomically(dir.file("src/b.png"), png.substr(0, png.size() - 20)).ok());
  ASSERT_TRUE(WriteFileAtomically(dir.file("d.zip"), "old dataset").ok());
  const absl::Status status = Convert(Options(dir.file("src"), dir.file("d.zip")));
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(Mentions(status, "b.png")) << status;
  EXPECT_EQ(*ReadFile(dir.file("d.zip")), "old dataset");
  EXPECT_EQ(Files(dir.path()).size(), 3u) << "left a temporary file behind";
}

TEST(DatasetCommandTest, EmptyOrUnsupportedSourcesAreErrors) {
  TestDir dir;
  fs::create_directories(dir.file("empty"));
  ASSERT_TRUE(WriteFileAtomically(dir.file("empty/readme.txt"), "x").ok());
  absl::Status status = Convert(Options(dir.file("empty"), dir.file("d.zip")));
  EXPECT_TRUE(Mentions(status, "no PNG or JPEG")) << status;
  Put(dir, "gif/a.png", MakeImage(4, 4, 3, 0));
  ASSERT_TRUE(WriteFileAtomically(dir.file("gif/b.gif"), "GIF89a").ok());
  status = Convert(Options(dir.file("gif"), dir.file("d.zip")));
  EXPECT_TRUE(Mentions(status, "b.gif")) << status;
  status = Convert(Options(dir.file("missing"), dir.file("d.zip")));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Mentions(status, "missing"));
}

TEST(DatasetCommandTest, OptionsAreValidated) {
  EXPECT_FALSE(Options("src", "out.tar").Validate().ok());
  EXPECT_FALSE(Options("src", "out.zip", 48).Validate().ok());
  EXPECT_FALSE(Options("src", "out.zip", 0, "center-crop").Validate().ok());
  EXPECT_FALSE(Options("src", "out.zip", 64, "center-crop-wide").Validate().ok());
  EXPECT_FALSE(Options("src", "out.zip", 64, "", 0).Validate().ok());
  EXPECT_TRUE(Options("src", "out.zip", 64, "center-crop", 10).Validate().ok());
}

TEST(DatasetCommandTest, ZipSourceKeepsNameOrderAndLabels) {
  TestDir dir;
  {
    auto writer = ZipWriter::Create(dir.file("src.zip"));
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->AddBytes("z.png", *EncodePng(MakeImage(4, 4, 3, 1))).ok());
    ASSERT_TRUE((*writer)->AddBytes("dir/a.png", *EncodePng(MakeImage(4, 4, 3, 2))).ok());
    ASSERT_TRUE((*writer)
                    ->AddBytes("dataset.json",
                               R"({"labels": [["z.png", [1.5, 2]], ["dir/a.png", [0, -1]]]})")
                    .ok());
    ASSERT_TRUE((*writer)->Commit().ok());
  }
  ASSERT_TRUE(Convert(Options(dir.file("src.zip"), dir.file("d.zip"))).ok());
  auto zip = ZipReader::Open(dir.file("d.zip"));
  ASSERT_TRUE(zip.ok());
  EXPECT_EQ(*(*zip)->Read("00000/img00000000.png"), *EncodePng(MakeImage(4, 4, 3, 2), 0));
  EXPECT_EQ(*(*zip)->Read("dataset.json"),
            R"({"labels": [["00000/img00000000.png", [0.0, -1.0]], ["00000/img00000001.png", [1.5, 2.0]]]})");
}

std::string BigEndian(std::vector<int> header) {
  std::string s;
  for (int v : header) {
    for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>(v >> shift));
  }
  return s;
}

void WriteGzip(const std::string& path, const std::string& data) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, data.data(), data.size());
  gzclose(f);
}

TEST(DatasetCommandTest, IdxFilesBecomePaddedRgbWithLabels) {
  TestDir dir;
  const int n = 3;
  std::string images = BigEndian({0x803, n, 28, 28});
  for (int i = 0; i < n * 28 * 28; ++i) images.push_back(static_cast<char>(200 + i % 50));
  std::string labels = BigEndian({0x801, n}) + std::string{7, 0, 9};
  WriteGzip(dir.file("train-images-idx3-ubyte.gz"), images);
  WriteGzip(dir.file("train-labels-idx1-ubyte.gz"), labels);
  DatasetOptions options = Options(dir.file("train-images-idx3-ubyte.gz"), dir.file("m.zip"));
  ASSERT_TRUE(Convert(options).ok());
  auto zip = ZipReader::Open(options.dest);
  ASSERT_TRUE(zip.ok());
  EXPECT_EQ(*(*zip)->Read("dataset.json"),
            R"({"labels": [["00000/img00000000.png", 7], ["00000/img00000001.png", 0], ["00000/img00000002.png", 9]]})");
  auto image = DecodeImage(*(*zip)->Read("00000/img00000001.png"), "x");
  ASSERT_TRUE(image.ok());
  ASSERT_EQ(image->width, 32);
  ASSERT_EQ(image->channels, 3);
  // Two black pixels of padding on each side, then image 1's first pixel.
  EXPECT_EQ(image->pixels[(0 * 32 + 0) * 3], 0);
  EXPECT_EQ(image->pixels[(2 * 32 + 1) * 3 + 2], 0);
  EXPECT_EQ(image->pixels[(2 * 32 + 2) * 3 + 1], 200 + (28 * 28) % 50);

  // At another resolution, and without the labels file.
  options.resolution = 64;
  options.dest = dir.file("m64.zip");
  ASSERT_TRUE(Convert(options).ok());
  fs::remove(dir.file("train-labels-idx1-ubyte.gz"));
  const absl::Status status = Convert(options);
  EXPECT_TRUE(Mentions(status, "train-labels-idx1-ubyte.gz")) << status;
}

}  // namespace
}  // namespace pgan::tools
