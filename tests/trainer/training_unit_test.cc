// Fast checks of the training pieces: Adam against its formula, the
// NaN/Inf scrub, batch layout indices, snapshots and retention.
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include <gtest/gtest.h>

#include "tests/common/test_dir.h"
#include "trainer/adam.h"
#include "trainer/run_dir.h"
#include "trainer/snapshot.h"
#include "trainer/state_dict.h"
#include "trainer/trainer.h"
#include "trainer/training_step.h"

namespace pgan::trainer {
namespace {

using ::pgan::testing::TestDir;

TEST(AdamTest, MatchesTheFormulaOverSeveralSteps) {
  torch::Tensor p = torch::tensor({1.0, -2.0, 0.5}, torch::kDouble).requires_grad_(true);
  Adam adam({p}, {"p"}, AdamOptions{0.1, 0.0, 0.99, 1e-8});
  torch::Tensor expected = p.detach().clone();
  torch::Tensor v = torch::zeros_like(expected);
  for (int step = 1; step <= 3; ++step) {
    const torch::Tensor grad = torch::tensor({0.5 * step, -1.0, 2.0 / step}, torch::kDouble);
    p.mutable_grad() = grad.clone();
    adam.Step();
    // beta1 = 0: m = g; v = 0.99 v + 0.01 g^2.
    v = v * 0.99 + 0.01 * grad * grad;
    const double bc2 = 1 - std::pow(0.99, step);
    expected = expected - 0.1 * grad / ((v.sqrt() / std::sqrt(bc2)) + 1e-8);
    EXPECT_TRUE(torch::allclose(p.detach(), expected, 1e-12, 1e-12)) << step;
  }
  EXPECT_EQ(adam.state()[0].step, 3);
  adam.ZeroGrad();
  EXPECT_FALSE(p.grad().defined());
  // Parameters without a gradient are skipped, as PyTorch does.
  const torch::Tensor before = p.detach().clone();
  adam.Step();
  EXPECT_TRUE(torch::equal(before, p.detach()));
}

TEST(AdamTest, MatchesLibTorchsAdam) {
  torch::manual_seed(0);
  torch::Tensor a = torch::randn({4, 3}).requires_grad_(true);
  torch::Tensor b = a.detach().clone().requires_grad_(true);
  Adam ours({a}, {"a"}, AdamOptions{2e-4, 0.0, 0.99, 1e-8});
  torch::optim::Adam theirs({b}, torch::optim::AdamOptions(2e-4).betas({0.0, 0.99}).eps(1e-8));
  for (int i = 0; i < 5; ++i) {
    const torch::Tensor g = torch::randn({4, 3});
    a.mutable_grad() = g.clone();
    b.mutable_grad() = g.clone();
    ours.Step();
    theirs.step();
  }
  EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-7));
}

TEST(BatchLayoutTest, ChunksAreContiguousBlocksWhateverTheSplit) {
  // One process, 2 rounds of 2 == two processes, 1 round of 2 each.
  const BatchLayout single{0, 1, 4, 2};
  const BatchLayout rank1{1, 2, 4, 2};
  EXPECT_EQ(single.rounds(), 2);
  EXPECT_EQ(rank1.rounds(), 1);
  EXPECT_EQ(single.GlobalIndex(1, 0), 2);
  EXPECT_EQ(rank1.GlobalIndex(0, 0), 2);
  EXPECT_EQ(single.GlobalIndex(1, 1), rank1.GlobalIndex(0, 1));
}

TEST(SampleKeyTest, DependsOnEveryPart) {
  const uint64_t base = SampleKey(1, 2, 3, RandomPurpose::kGLatent);
  EXPECT_EQ(base, SampleKey(1, 2, 3, RandomPurpose::kGLatent));
  EXPECT_NE(base, SampleKey(2, 2, 3, RandomPurpose::kGLatent));
  EXPECT_NE(base, SampleKey(1, 3, 3, RandomPurpose::kGLatent));
  EXPECT_NE(base, SampleKey(1, 2, 4, RandomPurpose::kGLatent));
  EXPECT_NE(base, SampleKey(1, 2, 3, RandomPurpose::kDLatent));
}

TEST(SnapshotTest, SaveThenLoadRestoresNetworksOptimisersAndProgress) {
  TestDir dir;
  config::TrainingConfig config;
  config.model.cfg = "fastgan_lite";
  config.model.resolution = 32;
  config.model.ngf = 8;
  config.data = "d";
  config.outdir = "o";
  config.ResolveCfgDefaults();
  auto nets = BuildNetworks(config.model);
  ASSERT_TRUE(nets.ok()) << nets.status();
  Optimizers opt = MakeOptimizers(*nets, config);
  // Give every optimiser state a value.
  for (auto* adam : {opt.g.get(), opt.d.get()}) {
    for (const torch::Tensor& p : adam->params()) {
      torch::Tensor q = p;
      q.mutable_grad() = torch::randn_like(p);
    }
    adam->Step();
  }
  TrainingState state{config, {}};
  state.progress.cur_nimg = 1234;
  state.progress.batch_idx = 7;
  const std::string path = dir.file("snapshot.safetensors");
  ASSERT_TRUE(SaveSnapshot(path, *nets, *opt.g, *opt.d, state).ok());

  auto read = ReadSnapshotState(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->progress.cur_nimg, 1234);
  EXPECT_EQ(read->config.ToJson(), config.ToJson());

  auto fresh = BuildNetworks(config.model);
  ASSERT_TRUE(fresh.ok());
  Optimizers fresh_opt = MakeOptimizers(*fresh, config);
  ASSERT_TRUE(LoadSnapshot(path, *fresh, *fresh_opt.g, *fresh_opt.d).ok());
  const auto a = StateDict(*nets->G), b = StateDict(*fresh->G);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second));
  for (size_t i = 0; i < opt.d->state().size(); ++i) {
    EXPECT_EQ(opt.d->state()[i].step, fresh_opt.d->state()[i].step);
    EXPECT_TRUE(torch::equal(opt.d->state()[i].exp_avg_sq,
                             fresh_opt.d->state()[i].exp_avg_sq));
  }
  // The snapshot is also a network file, and exports to a smaller one.
  EXPECT_TRUE(LoadNetworkFile(path, kPartGEma).ok());
  ASSERT_TRUE(ExportNetwork(path, dir.file("net.safetensors")).ok());
  EXPECT_TRUE(LoadNetworkFile(dir.file("net.safetensors")).ok());
  EXPECT_LT(std::filesystem::file_size(dir.file("net.safetensors")),
            std::filesystem::file_size(path));
  EXPECT_FALSE(ReadSnapshotState(dir.file("net.safetensors")).ok());
}

TEST(RunDirTest, RetentionKeepsTheLatestAndOnePerInterval) {
  TestDir dir;
  for (int kimg : {0, 40, 80, 120, 160, 200, 240}) {
    std::ofstream(dir.file(SnapshotFileName(kimg * 1000)));
    std::ofstream(dir.file(NetworkFileName(kimg * 1000)));
  }
  ApplyRetention(dir.path().string(), 100);
  std::vector<int64_t> kept;
  for (const SnapshotFile& s : ListSnapshots(dir.path().string())) kept.push_back(s.kimg);
  EXPECT_EQ(kept, (std::vector<int64_t>{0, 120, 200, 240}));
  EXPECT_FALSE(std::filesystem::exists(dir.file(NetworkFileName(40000))));
  EXPECT_TRUE(std::filesystem::exists(dir.file(NetworkFileName(120000))));
  // The best snapshot by a metric is kept too.
  ApplyRetention(dir.path().string(), 0,
                 dir.file(SnapshotFileName(120000)));
  kept.clear();
  for (const SnapshotFile& s : ListSnapshots(dir.path().string())) kept.push_back(s.kimg);
  EXPECT_EQ(kept, (std::vector<int64_t>{120, 240}));
  ApplyRetention(dir.path().string(), 0);
  ASSERT_EQ(ListSnapshots(dir.path().string()).size(), 1u);
  EXPECT_EQ(ListSnapshots(dir.path().string())[0].kimg, 240);
}

TEST(RunDirTest, RunDirectoriesAreNumberedAndResumeFindsTheLatest) {
  TestDir dir;
  auto a = CreateRunDir(dir.file("runs"), "fastgan-x-gpus1-batch4");
  auto b = CreateRunDir(dir.file("runs"), "fastgan-x-gpus1-batch4");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->find("00000-fastgan-x"), std::string::npos);
  EXPECT_NE(b->find("00001-fastgan-x"), std::string::npos);
  // "auto" starts afresh while no run has a snapshot.
  auto none = ResolveResume("auto", dir.file("runs"));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, "");
  std::ofstream(*a + "/" + SnapshotFileName(4000));
  auto latest = ResolveResume("latest", dir.file("runs"));
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_NE(latest->find("00000-fastgan-x"), std::string::npos);
  auto automatic = ResolveResume("auto", dir.file("runs"));
  ASSERT_TRUE(automatic.ok()) << automatic.status();
  EXPECT_EQ(*automatic, *latest);
  EXPECT_EQ(ResolveResume(*b, dir.file("runs")).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace pgan::trainer

namespace pgan::trainer {
namespace {

// UpdateEma relies on ema.lerp_(p, 1 - beta) being bit-identical to the
// reference's p.lerp(ema, beta) for beta > 0.5.
TEST(EmaTest, InPlaceLerpEqualsTheReferencesFormBitForBit) {
  torch::manual_seed(0);
  const torch::Tensor p = torch::randn({100003});
  const torch::Tensor ema = p + torch::randn({100003}) * 0.01;
  for (double beta : {0.5000001, 0.6, 0.99778439, 0.9999, 0.75}) {
    const torch::Tensor want = p.lerp(ema, beta);
    torch::Tensor got = ema.clone();
    got.lerp_(p, 1.0f - static_cast<float>(beta));
    EXPECT_TRUE(torch::equal(want, got)) << beta;
  }
}

TEST(AdamTest, WithoutFirstMomentMatchesTheFullFormulaBitForBit) {
  torch::manual_seed(1);
  torch::Tensor a = torch::randn({3000}).requires_grad_(true);
  torch::Tensor b = a.detach().clone().requires_grad_(true);
  Adam ours({a}, {"a"}, AdamOptions{2e-4, 0.0, 0.99, 1e-8});
  torch::Tensor m = torch::zeros({3000}), v = torch::zeros({3000});
  for (int step = 1; step <= 4; ++step) {
    const torch::Tensor g = torch::randn({3000});
    a.mutable_grad() = g.clone();
    ours.Step();
    torch::NoGradGuard no_grad;
    m.mul_(0.0).add_(g, 1.0);
    v.mul_(0.99).addcmul_(g, g, 0.01);
    const double bc2 = 1 - std::pow(0.99, step);
    const torch::Tensor denom = (v.sqrt() / std::sqrt(bc2)).add_(1e-8);
    b.addcdiv_(m, denom, -2e-4);
  }
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(ours.state()[0].exp_avg.defined());
}

}  // namespace
}  // namespace pgan::trainer
