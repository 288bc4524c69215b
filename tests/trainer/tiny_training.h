// The tiny training setup the trainer's end-to-end tests share: a dataset
// of eight random 32x32 images, FastGAN with ngf 8 at batch 2 in two rounds,
// a tick per iteration, on the CPU.
#ifndef PGAN_TESTS_TRAINER_TINY_TRAINING_H_
#define PGAN_TESTS_TRAINER_TINY_TRAINING_H_

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <memory>
#include <string>

#include "config/training_config.h"
#include "tests/common/test_dir.h"
#include "tests/trainer/random_images.h"
#include "trainer/process_group.h"
#include "trainer/state_dict.h"
#include "trainer/trainer.h"

namespace pgan::trainer {

// Eight random 32x32 RGB images in a folder (the reference layout without
// dataset.json).
inline std::string MakeDataset(const ::pgan::testing::TestDir& dir) {
  const std::string data = dir.file("data");
  EXPECT_TRUE(
      ::pgan::testing::WriteRandomImageFolder(data, 8, 32, /*seed=*/123).ok());
  return data;
}

inline config::TrainingConfig TinyConfig(const ::pgan::testing::TestDir& dir) {
  config::TrainingConfig config;
  config.model.cfg = "fastgan";  // With noise injection, to cover its streams.
  config.model.resolution = 32;
  config.model.ngf = 8;
  config.data = MakeDataset(dir);
  config.outdir = dir.file("runs");
  config.batch = 2;
  config.batch_gpu = 1;  // Two accumulation rounds.
  config.kimg = 1;
  config.tick = 0.002;  // A tick every iteration.
  config.snap = 1000;
  config.grid_width = 2;
  config.grid_height = 1;
  config.workers = 2;
  config.device = "cpu";
  return config;
}

inline std::unique_ptr<Trainer> MakeTrainer(
    const config::TrainingConfig& config, const std::string& resume,
    ProcessGroup* group, const std::atomic<bool>* stop = nullptr) {
  TrainerEnvironment env;
  env.group = group;
  env.stop_flag = stop;
  auto trainer = Trainer::Create(config, resume, env);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  return trainer.ok() ? std::move(*trainer) : nullptr;
}

// Every parameter and buffer of `a` and `b` bit for bit (by value: the
// memory layout may differ).
inline void ExpectSameState(const torch::nn::Module& a,
                            const torch::nn::Module& b,
                            const std::string& what) {
  const auto sa = StateDict(a), sb = StateDict(b);
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second))
        << what << " " << sa[i].first;
  }
}

}  // namespace pgan::trainer

#endif  // PGAN_TESTS_TRAINER_TINY_TRAINING_H_
