#include "trainer/dataset.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "common/image_io.h"
#include "common/zip_archive.h"
#include "tests/common/test_dir.h"

namespace pgan::trainer {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::TestDir;

// Pixel (x, y, c) of image `seed` = seed * 16 + x * 3 + y + c * 60, so both
// the image and a flip can be recognised.
Image MakeImage(int side, int channels, int seed) {
  Image image{side, side, channels, {}};
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      for (int c = 0; c < channels; ++c) {
        image.pixels.push_back(static_cast<uint8_t>((seed * 16 + x * 3 + y + c * 60) % 256));
      }
    }
  }
  return image;
}

// A zip in the reference layout with `count` images, optional dataset.json.
std::string MakeZip(const TestDir& dir, int count, int side, int channels,
                    const std::string& dataset_json = "") {
  const std::string path = dir.file("data.zip");
  auto writer = ZipWriter::Create(path);
  EXPECT_TRUE(writer.ok());
  // Added out of order: the dataset sorts by name.
  for (int i = count - 1; i >= 0; --i) {
    char name[32];
    std::snprintf(name, sizeof(name), "00000/img%08d.png", i);
    EXPECT_TRUE((*writer)->AddBytes(name, *EncodePng(MakeImage(side, channels, i), 0)).ok());
  }
  if (!dataset_json.empty()) {
    EXPECT_TRUE((*writer)->AddBytes("dataset.json", dataset_json).ok());
  }
  EXPECT_TRUE((*writer)->Commit().ok());
  return path;
}

bool Mentions(const absl::Status& status, const std::string& text) {
  return status.message().find(text) != absl::string_view::npos;
}

torch::Tensor ExpectedChw(int side, int channels, int seed) {
  const Image image = MakeImage(side, channels, seed);
  return torch::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                          {side, side, channels}, torch::kUInt8)
      .permute({2, 0, 1})
      .clone();
}

TEST(ImageDatasetTest, ZipDatasetGivesImagesInNameOrder) {
  TestDir dir;
  auto dataset = ImageDataset::Open(MakeZip(dir, 3, 8, 3));
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ((*dataset)->size(), 3);
  EXPECT_EQ((*dataset)->resolution(), 8);
  EXPECT_EQ((*dataset)->channels(), 3);
  EXPECT_FALSE((*dataset)->has_labels());
  EXPECT_EQ((*dataset)->image_name(1), "00000/img00000001.png");
  for (int i = 0; i < 3; ++i) {
    auto image = (*dataset)->Get(i);
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_TRUE(torch::equal(*image, ExpectedChw(8, 3, i))) << i;
  }
  EXPECT_FALSE((*dataset)->Get(3).ok());
}

TEST(ImageDatasetTest, FolderDatasetMatchesItsZip) {
  TestDir dir;
  const std::string zip = MakeZip(dir, 4, 4, 1);
  auto reader = ZipReader::Open(zip);
  ASSERT_TRUE(reader.ok());
  for (const std::string& name : (*reader)->names()) {
    fs::create_directories(fs::path(dir.file("folder/" + name)).parent_path());
    ASSERT_TRUE(WriteFileAtomically(dir.file("folder/" + name), *(*reader)->Read(name)).ok());
  }
  auto from_zip = ImageDataset::Open(zip);
  auto from_folder = ImageDataset::Open(dir.file("folder"));
  ASSERT_TRUE(from_zip.ok() && from_folder.ok()) << from_folder.status();
  ASSERT_EQ((*from_folder)->size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*from_folder)->image_name(i), (*from_zip)->image_name(i));
    EXPECT_TRUE(torch::equal(*(*from_folder)->Get(i), *(*from_zip)->Get(i)));
  }
}

TEST(ImageDatasetTest, MirrorAppendsFlippedCopies) {
  TestDir dir;
  ImageDatasetOptions options;
  options.xflip = true;
  auto dataset = ImageDataset::Open(MakeZip(dir, 3, 8, 3), options);
  ASSERT_TRUE(dataset.ok());
  ASSERT_EQ((*dataset)->size(), 6);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE((*dataset)->is_flipped(i));
    EXPECT_TRUE((*dataset)->is_flipped(i + 3));
    EXPECT_TRUE(torch::equal(*(*dataset)->Get(i + 3), ExpectedChw(8, 3, i).flip({2})));
  }
}

TEST(ImageDatasetTest, IntegerLabelsBecomeOneHot) {
  TestDir dir;
  auto dataset = ImageDataset::Open(MakeZip(
      dir, 3, 4, 3,
      R"({"labels": [["00000/img00000000.png", 3], ["00000/img00000001.png", 0],
                     ["00000/img00000002.png", 1]]})"));
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_TRUE((*dataset)->has_labels());
  EXPECT_TRUE((*dataset)->has_onehot_labels());
  EXPECT_EQ((*dataset)->label_dim(), 4);
  EXPECT_TRUE(torch::equal((*dataset)->Label(0), torch::tensor({0.f, 0.f, 0.f, 1.f})));
  EXPECT_TRUE(torch::equal((*dataset)->Label(1), torch::tensor({1.f, 0.f, 0.f, 0.f})));
}

TEST(ImageDatasetTest, VectorLabelsStayVectorsAndMirrorKeepsThem) {
  TestDir dir;
  ImageDatasetOptions options;
  options.xflip = true;
  auto dataset = ImageDataset::Open(
      MakeZip(dir, 2, 4, 3,
              R"({"labels": [["00000/img00000000.png", [0.5, -1]],
                             ["00000/img00000001.png", [2, 3]]]})"),
      options);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_FALSE((*dataset)->has_onehot_labels());
  EXPECT_EQ((*dataset)->label_dim(), 2);
  EXPECT_TRUE(torch::equal((*dataset)->Label(3), torch::tensor({2.f, 3.f})));
}

TEST(ImageDatasetTest, MissingLabelIsAnErrorUnlessLabelsAreUnused) {
  TestDir dir;
  const std::string zip =
      MakeZip(dir, 2, 4, 3, R"({"labels": [["00000/img00000000.png", 1]]})");
  auto dataset = ImageDataset::Open(zip);
  ASSERT_FALSE(dataset.ok());
  EXPECT_TRUE(Mentions(dataset.status(), "00000/img00000001.png")) << dataset.status();
  ImageDatasetOptions options;
  options.use_labels = false;
  auto unlabelled = ImageDataset::Open(zip, options);
  ASSERT_TRUE(unlabelled.ok());
  EXPECT_FALSE((*unlabelled)->has_labels());
}

TEST(ImageDatasetTest, GrayDatasetsCanBeReadAsRgb) {
  TestDir dir;
  const std::string zip = MakeZip(dir, 2, 4, 1);
  auto gray = ImageDataset::Open(zip);
  ASSERT_TRUE(gray.ok());
  EXPECT_EQ((*gray)->channels(), 1);
  ImageDatasetOptions options;
  options.gray_to_rgb = true;
  auto rgb = ImageDataset::Open(zip, options);
  ASSERT_TRUE(rgb.ok());
  EXPECT_EQ((*rgb)->channels(), 3);
  EXPECT_TRUE(torch::equal(*(*rgb)->Get(1), ExpectedChw(4, 1, 1).repeat({3, 1, 1})));
}

TEST(ImageDatasetTest, OpenErrorsNameTheFile) {
  TestDir dir;
  // Not a zip.
  ASSERT_TRUE(WriteFileAtomically(dir.file("fake.zip"), "nope").ok());
  auto status = ImageDataset::Open(dir.file("fake.zip")).status();
  EXPECT_TRUE(Mentions(status, "fake.zip")) << status;
  // Not a zip or a folder.
  ASSERT_TRUE(WriteFileAtomically(dir.file("data.tar"), "nope").ok());
  status = ImageDataset::Open(dir.file("data.tar")).status();
  EXPECT_TRUE(Mentions(status, "data.tar")) << status;
  // No images.
  fs::create_directories(dir.file("empty"));
  status = ImageDataset::Open(dir.file("empty")).status();
  EXPECT_TRUE(Mentions(status, "no PNG or JPEG")) << status;
  // Missing.
  EXPECT_EQ(ImageDataset::Open(dir.file("absent.zip")).status().code(),
            absl::StatusCode::kNotFound);

  struct Bad {
    std::vector<Image> images;
    std::string named;
  };
  const std::vector<Bad> cases = {
      {{MakeImage(8, 3, 0), MakeImage(4, 3, 1)}, "b.png"},   // Mixed sizes.
      {{MakeImage(8, 3, 0), MakeImage(8, 1, 1)}, "b.png"},   // Mixed channels.
      {{MakeImage(12, 3, 0)}, "a.png"},                      // Not a power of two.
      {{Image{8, 4, 3, std::vector<uint8_t>(96, 1)}}, "a.png"},  // Not square.
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    const fs::path folder = dir.path() / ("case" + std::to_string(c));
    fs::create_directories(folder);
    for (size_t i = 0; i < cases[c].images.size(); ++i) {
      ASSERT_TRUE(WritePng((folder / (i == 0 ? "a.png" : "b.png")).string(),
                           cases[c].images[i]).ok());
    }
    status = ImageDataset::Open(folder.string()).status();
    ASSERT_FALSE(status.ok()) << c;
    EXPECT_TRUE(Mentions(status, cases[c].named)) << status;
  }
}

TEST(ImageDatasetTest, CorruptImageIsAnErrorNamingTheFileWhenRead) {
  TestDir dir;
  fs::create_directories(dir.file("d"));
  ASSERT_TRUE(WritePng(dir.file("d/a.png"), MakeImage(8, 3, 0)).ok());
  const std::string png = *EncodePng(MakeImage(8, 3, 1), 0);
  // The header is intact, so Open accepts it; decoding fails.
  ASSERT_TRUE(WriteFileAtomically(dir.file("d/b.png"), png.substr(0, png.size() / 2)).ok());
  auto dataset = ImageDataset::Open(dir.file("d"));
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_TRUE((*dataset)->Get(0).ok());
  auto image = (*dataset)->Get(1);
  ASSERT_FALSE(image.ok());
  EXPECT_TRUE(Mentions(image.status(), "b.png")) << image.status();
}

TEST(ImageDatasetTest, ConcurrentReadsGiveTheSameImages) {
  TestDir dir;
  ImageDatasetOptions options;
  options.xflip = true;
  auto opened = ImageDataset::Open(MakeZip(dir, 6, 8, 3), options);
  ASSERT_TRUE(opened.ok());
  const ImageDataset& dataset = **opened;
  std::vector<torch::Tensor> serial;
  for (int64_t i = 0; i < dataset.size(); ++i) serial.push_back(*dataset.Get(i));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (int64_t i = 0; i < dataset.size(); ++i) {
          auto image = dataset.Get((i + t) % dataset.size());
          if (!image.ok() || !torch::equal(*image, serial[(i + t) % dataset.size()])) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace pgan::trainer
