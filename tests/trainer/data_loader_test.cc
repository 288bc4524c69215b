#include "trainer/data_loader.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/image_io.h"
#include "tests/common/test_dir.h"
#include "trainer/sample_grid.h"

namespace pgan::trainer {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::TestDir;

// A folder of `count` 4x4 RGB images; every pixel of image i is i, so a
// batch shows which image landed in which slot. Labels are i % 3.
std::shared_ptr<const ImageDataset> MakeDataset(const TestDir& dir, int count,
                                                int corrupt = -1) {
  fs::create_directories(dir.file("d"));
  std::string labels = R"({"labels": [)";
  for (int i = 0; i < count; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "img%03d.png", i);
    std::string png =
        *EncodePng(Image{4, 4, 3, std::vector<uint8_t>(48, i)}, 0);
    if (i == corrupt) png.resize(png.size() - 10);
    EXPECT_TRUE(
        WriteFileAtomically(dir.file(std::string("d/") + name), png).ok());
    labels += (i ? ", [\"" : "[\"") + std::string(name) + "\", " +
              std::to_string(i % 3) + "]";
  }
  EXPECT_TRUE(
      WriteFileAtomically(dir.file("d/dataset.json"), labels + "]}").ok());
  auto dataset = ImageDataset::Open(dir.file("d"));
  EXPECT_TRUE(dataset.ok()) << dataset.status();
  return std::shared_ptr<const ImageDataset>(std::move(*dataset));
}

InfiniteSampler MakeSampler(int64_t size, int64_t position = 0) {
  InfiniteSamplerOptions options;
  options.size = size;
  options.seed = 7;
  return *InfiniteSampler::Create(options, position);
}

std::vector<Batch> Take(DataLoader& loader, int count) {
  std::vector<Batch> batches;
  for (int i = 0; i < count; ++i) {
    auto batch = loader.Next();
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok()) break;
    batches.push_back(*std::move(batch));
  }
  return batches;
}

TEST(DataLoaderTest, BatchesFollowTheSamplerOrder) {
  TestDir dir;
  auto dataset = MakeDataset(dir, 11);
  DataLoaderOptions options;
  options.batch_size = 4;
  options.num_threads = 3;
  auto loader = DataLoader::Create(dataset, MakeSampler(11), options);
  ASSERT_TRUE(loader.ok()) << loader.status();
  InfiniteSampler reference = MakeSampler(11);
  for (const Batch& batch : Take(**loader, 12)) {
    ASSERT_EQ(batch.images.sizes(), (torch::IntArrayRef{4, 3, 4, 4}));
    ASSERT_EQ(batch.images.scalar_type(), torch::kUInt8);
    ASSERT_EQ(batch.labels.sizes(), (torch::IntArrayRef{4, 3}));
    for (int slot = 0; slot < 4; ++slot) {
      const int64_t index = reference.Next();
      ASSERT_EQ(batch.indices[slot], index);
      EXPECT_TRUE(torch::all(batch.images[slot] == index).item<bool>());
      EXPECT_EQ(batch.labels[slot].argmax().item<int64_t>(), index % 3);
      EXPECT_EQ(batch.labels[slot].sum().item<float>(), 1.0f);
    }
  }
  EXPECT_EQ((*loader)->position(), 48);
}

TEST(DataLoaderTest, ThreadCountDoesNotChangeTheBatches) {
  TestDir dir;
  auto dataset = MakeDataset(dir, 9);
  std::vector<std::vector<Batch>> runs;
  for (int threads : {1, 4}) {
    DataLoaderOptions options;
    options.batch_size = 5;
    options.num_threads = threads;
    options.prefetch_batches = threads;
    auto loader = DataLoader::Create(dataset, MakeSampler(9), options);
    ASSERT_TRUE(loader.ok());
    runs.push_back(Take(**loader, 8));
  }
  ASSERT_EQ(runs[0].size(), runs[1].size());
  for (size_t b = 0; b < runs[0].size(); ++b) {
    EXPECT_EQ(runs[0][b].indices, runs[1][b].indices);
    EXPECT_TRUE(torch::equal(runs[0][b].images, runs[1][b].images));
    EXPECT_TRUE(torch::equal(runs[0][b].labels, runs[1][b].labels));
  }
}

TEST(DataLoaderTest, ResumingAtThePositionContinuesTheStream) {
  TestDir dir;
  auto dataset = MakeDataset(dir, 7);
  DataLoaderOptions options;
  options.batch_size = 3;
  auto whole = DataLoader::Create(dataset, MakeSampler(7), options);
  ASSERT_TRUE(whole.ok());
  const std::vector<Batch> all = Take(**whole, 6);

  auto first = DataLoader::Create(dataset, MakeSampler(7), options);
  ASSERT_TRUE(first.ok());
  Take(**first, 2);
  const int64_t position = (*first)->position();
  EXPECT_EQ(position, 6);  // Prefetching does not count.
  first->reset();
  auto resumed = DataLoader::Create(dataset, MakeSampler(7, position), options);
  ASSERT_TRUE(resumed.ok());
  const std::vector<Batch> rest = Take(**resumed, 4);
  for (size_t b = 0; b < rest.size(); ++b) {
    EXPECT_EQ(rest[b].indices, all[b + 2].indices) << b;
  }
  EXPECT_EQ((*resumed)->position(), 18);
}

TEST(DataLoaderTest, DecodeErrorSurfacesFromNextNamingTheFile) {
  TestDir dir;
  auto dataset = MakeDataset(dir, 5, /*corrupt=*/3);
  DataLoaderOptions options;
  options.batch_size = 2;
  auto loader = DataLoader::Create(dataset, MakeSampler(5), options);
  ASSERT_TRUE(loader.ok());
  absl::Status error;
  for (int i = 0; i < 20 && error.ok(); ++i) {
    auto batch = (*loader)->Next();
    if (!batch.ok()) error = batch.status();
  }
  ASSERT_FALSE(error.ok()) << "image 3 was never sampled";
  EXPECT_NE(error.message().find("img003.png"), std::string::npos) << error;
  // The loader stays failed.
  EXPECT_EQ((*loader)->Next().status(), error);
}

TEST(DataLoaderTest, DatasetWithoutLabelsGivesUndefinedLabels) {
  TestDir dir;
  MakeDataset(dir, 3);
  ImageDatasetOptions dataset_options;
  dataset_options.use_labels = false;
  auto dataset = ImageDataset::Open(dir.file("d"), dataset_options);
  ASSERT_TRUE(dataset.ok());
  DataLoaderOptions options;
  options.batch_size = 2;
  auto loader =
      DataLoader::Create(std::move(*dataset), MakeSampler(3), options);
  ASSERT_TRUE(loader.ok());
  auto batch = (*loader)->Next();
  ASSERT_TRUE(batch.ok());
  EXPECT_FALSE(batch->labels.defined());
}

TEST(DataLoaderTest, DestroyingWhileDecodingStopsCleanly) {
  TestDir dir;
  auto dataset = MakeDataset(dir, 20);
  DataLoaderOptions options;
  options.batch_size = 8;
  options.num_threads = 4;
  options.prefetch_batches = 4;
  for (int i = 0; i < 5; ++i) {
    auto loader = DataLoader::Create(dataset, MakeSampler(20), options);
    ASSERT_TRUE(loader.ok());
    if (i % 2) {
      ASSERT_TRUE((*loader)->Next().ok());
    }
  }  // Each destructor joins its threads; a hang would time the test out.
}

TEST(DataLoaderTest, InvalidOptionsAreRejected) {
  TestDir dir;
  auto dataset = MakeDataset(dir, 3);
  DataLoaderOptions options;
  options.batch_size = 0;
  EXPECT_FALSE(DataLoader::Create(dataset, MakeSampler(3), options).ok());
  options.batch_size = 2;
  options.num_threads = 0;
  EXPECT_FALSE(DataLoader::Create(dataset, MakeSampler(3), options).ok());
  options.num_threads = 1;
  options.prefetch_batches = 0;
  EXPECT_FALSE(DataLoader::Create(dataset, MakeSampler(3), options).ok());
  options.prefetch_batches = 1;
  EXPECT_FALSE(
      DataLoader::Create(dataset, MakeSampler(4), options).ok());  // Size.
  EXPECT_FALSE(DataLoader::Create(nullptr, MakeSampler(3), options).ok());
  EXPECT_TRUE(DataLoader::Create(dataset, MakeSampler(3), options).ok());
}

TEST(DataLoaderTest, RankBlocksTogetherAreTheGlobalBatch) {
  TestDir dir;
  auto dataset = MakeDataset(dir, 9);
  DataLoaderOptions global_options;
  global_options.batch_size = 6;
  auto global = DataLoader::Create(dataset, MakeSampler(9), global_options);
  ASSERT_TRUE(global.ok()) << global.status();
  std::vector<std::unique_ptr<DataLoader>> ranks;
  for (int rank = 0; rank < 3; ++rank) {
    DataLoaderOptions options;
    options.batch_size = 2;
    options.skip_before = 2 * rank;
    options.skip_after = 2 * (2 - rank);
    auto loader = DataLoader::Create(dataset, MakeSampler(9), options);
    ASSERT_TRUE(loader.ok()) << loader.status();
    ranks.push_back(std::move(*loader));
  }
  for (const Batch& batch : Take(**global, 5)) {
    for (int rank = 0; rank < 3; ++rank) {
      auto block = ranks[rank]->Next();
      ASSERT_TRUE(block.ok()) << block.status();
      EXPECT_EQ(block->indices,
                std::vector<int64_t>(batch.indices.begin() + 2 * rank,
                                     batch.indices.begin() + 2 * rank + 2));
      EXPECT_TRUE(
          torch::equal(block->images, batch.images.narrow(0, 2 * rank, 2)));
    }
  }
  EXPECT_EQ(ranks[1]->position(), (*global)->position());
}

// reals.png picks the items the reference's setup_snapshot_image_grid does
// (RandomState(0)); the expected indices are that function's output for the
// same item counts, labels and a 7x4 grid (projected_gan e1c246b, NumPy
// 1.24).
TEST(RealsGridTest, PicksTheReferencesItems) {
  TestDir dir;
  const auto labelled = MakeDataset(dir, 10);  // Pixels = index, labels i % 3.
  ImageDatasetOptions plain;
  plain.use_labels = false;
  auto unlabelled = ImageDataset::Open(dir.file("d"), plain);
  ASSERT_TRUE(unlabelled.ok()) << unlabelled.status();
  EXPECT_EQ(RealsGridIndices(**unlabelled, {7, 4}),
            (std::vector<int64_t>{2, 8, 4, 9, 1, 6, 7, 3, 0, 5, 2, 8, 4, 9,
                                  1, 6, 7, 3, 0, 5, 2, 8, 4, 9, 1, 6, 7, 3}));
  ImageDatasetOptions mirrored;
  mirrored.xflip = true;
  auto flips = ImageDataset::Open(dir.file("d"), mirrored);
  ASSERT_TRUE(flips.ok()) << flips.status();
  ASSERT_TRUE((*flips)->has_labels());
  EXPECT_EQ(RealsGridIndices(**flips, {7, 4}),
            (std::vector<int64_t>{16, 6,  3,  19, 9,  0,  13, 4, 11, 14,
                                  1,  7,  17, 4,  12, 18, 5,  8, 15, 2,
                                  12, 10, 16, 6,  3,  19, 9,  0}));
  // The PNG tiles them row by row.
  const std::string png = dir.file("reals.png");
  ASSERT_TRUE(WriteRealsGrid(png, **unlabelled, {7, 4}).ok());
  auto image = ReadImage(png);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 28);
  EXPECT_EQ(image->height, 16);
  const auto pixel = [&](int x, int y) {
    return image->pixels[(static_cast<size_t>(y) * image->width + x) * 3];
  };
  EXPECT_EQ(pixel(0, 0), 2);
  EXPECT_EQ(pixel(4, 0), 8);
  EXPECT_EQ(pixel(27, 15), 3);
}

}  // namespace
}  // namespace pgan::trainer
