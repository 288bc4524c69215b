// The trainer on a CUDA device: pinned loader batches, the GPU memory of
// the tick record, and a few iterations in fp32, bf16 and channels-last
// that stay finite. Label gpu; every test skips without a CUDA device (run
// by tools/gpu_check.sh on a GPU machine).
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "config/tick_report.h"
#include "tests/common/test_dir.h"
#include "tests/trainer/tiny_training.h"
#include "trainer/data_loader.h"
#include "trainer/dataset.h"
#include "trainer/sampler.h"

namespace pgan::trainer {
namespace {

using ::pgan::testing::TestDir;

#define PGAN_NEED_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

TEST(GpuTrainingTest, LoaderBatchesArePinned) {
  PGAN_NEED_CUDA();
  TestDir dir;
  auto dataset = ImageDataset::Open(MakeDataset(dir), ImageDatasetOptions{});
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  InfiniteSamplerOptions sampler_options;
  sampler_options.size = (*dataset)->size();
  sampler_options.seed = 1;
  auto sampler = InfiniteSampler::Create(sampler_options, 0);
  ASSERT_TRUE(sampler.ok()) << sampler.status();
  DataLoaderOptions options;
  options.batch_size = 4;
  options.pin_memory = true;
  std::shared_ptr<const ImageDataset> shared = std::move(*dataset);
  auto loader = DataLoader::Create(shared, std::move(*sampler), options);
  ASSERT_TRUE(loader.ok()) << loader.status();
  auto batch = (*loader)->Next();
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_TRUE(batch->images.is_pinned());
}

class GpuModes : public ::testing::TestWithParam<std::pair<const char*, bool>> {
};

TEST_P(GpuModes, TrainsAndReportsGpuMemory) {
  PGAN_NEED_CUDA();
  TestDir dir;
  config::TrainingConfig config = TinyConfig(dir);
  config.device = "cuda:0";
  config.amp = GetParam().first;
  config.channels_last = GetParam().second;
  LocalProcessGroup group;
  auto trainer = MakeTrainer(config, "", &group);
  ASSERT_NE(trainer, nullptr);
  ASSERT_TRUE(trainer->Run(3).ok());
  std::ifstream stats(trainer->run_dir() + "/stats.jsonl");
  std::string line;
  int ticks = 0;
  while (std::getline(stats, line)) {
    auto tick =
        config::TickReport::FromJson(nlohmann::json::parse(line), "stats");
    ASSERT_TRUE(tick.ok()) << tick.status();
    EXPECT_TRUE(std::isfinite(tick->loss_g) && std::isfinite(tick->loss_d));
    EXPECT_GT(tick->gpumem_gb, 0);
    EXPECT_GE(tick->gpumem_peak_gb, tick->gpumem_gb);
    EXPECT_GE(tick->gpumem_reserved_gb, tick->gpumem_peak_gb);
    ++ticks;
  }
  EXPECT_EQ(ticks, 3);
}

INSTANTIATE_TEST_SUITE_P(Modes, GpuModes,
                         ::testing::Values(std::make_pair("off", false),
                                           std::make_pair("bf16", false),
                                           std::make_pair("off", true),
                                           std::make_pair("bf16", true)),
                         [](const auto& info) {
                           return std::string(info.param.first ==
                                                      std::string("off")
                                                  ? "Fp32"
                                                  : "Bf16") +
                                  (info.param.second ? "ChannelsLast" : "");
                         });

}  // namespace
}  // namespace pgan::trainer
