// The training loop end to end on a tiny dataset: exact resume, stopping,
// the first EMA step, and configuration errors. Slow for a unit test (each
// iteration runs the 224 px feature network on the CPU): label integration.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "absl/strings/match.h"
#include "tests/common/test_dir.h"
#include "tests/trainer/random_images.h"
#include "tests/trainer/tiny_training.h"
#include "trainer/network_file.h"
#include "trainer/run_dir.h"
#include "trainer/state_dict.h"
#include "trainer/trainer.h"

namespace pgan::trainer {
namespace {

using ::pgan::testing::TestDir;

// Trains `first + then` iterations straight, and `first`, a snapshot and
// `then` more in a new Trainer; both end with the same G, G_ema and D. The
// straight trainer is returned for further checks.
std::unique_ptr<Trainer> ExpectResumeIsExact(const config::TrainingConfig& config,
                                             int first_iterations,
                                             int then_iterations,
                                             ProcessGroup* group) {
  auto straight = MakeTrainer(config, "", group);
  if (straight == nullptr) return nullptr;
  EXPECT_TRUE(straight->Run(first_iterations + then_iterations).ok());

  auto first = MakeTrainer(config, "", group);
  if (first == nullptr) return nullptr;
  EXPECT_TRUE(first->Run(first_iterations).ok());
  EXPECT_TRUE(first->WriteSnapshot().ok());
  const std::string run_dir = first->run_dir();
  first.reset();
  auto resumed = MakeTrainer(config, run_dir, group);
  if (resumed == nullptr) return nullptr;
  EXPECT_EQ(resumed->progress().batch_idx, first_iterations);
  EXPECT_TRUE(resumed->Run(then_iterations).ok());

  EXPECT_EQ(resumed->progress().cur_nimg, straight->progress().cur_nimg);
  ExpectSameState(*straight->networks().G, *resumed->networks().G, "G");
  ExpectSameState(*straight->networks().G_ema, *resumed->networks().G_ema,
                  "G_ema");
  ExpectSameState(*straight->networks().D, *resumed->networks().D, "D");
  return straight;
}

TEST(TrainingTest, ResumeIsExact) {
  TestDir dir;
  LocalProcessGroup group;
  EXPECT_NE(ExpectResumeIsExact(TinyConfig(dir), 2, 2, &group), nullptr);
}

// Projected StyleGAN2 (small: cbase 512, cmax 32) trains and resumes
// exactly; its w_avg follows the D phase's w into G and G_ema, its
// discriminators are separable, and its learning rates are the reference's.
TEST(TrainingTest, Stylegan2TrainsAndResumesExactly) {
  TestDir dir;
  config::TrainingConfig config = TinyConfig(dir);
  config.model.cfg = "stylegan2";
  config.model.cbase = 512;
  config.model.cmax = 32;
  config.model.w_dim = 32;
  LocalProcessGroup group;
  const std::unique_ptr<Trainer> trainer =
      ExpectResumeIsExact(config, 2, 1, &group);
  ASSERT_NE(trainer, nullptr);
  EXPECT_EQ(trainer->config().model.z_dim, 64);
  EXPECT_DOUBLE_EQ(trainer->config().glr, 2e-3);
  EXPECT_DOUBLE_EQ(trainer->config().dlr, 2e-3);
  Networks& nets = trainer->networks();
  const torch::Tensor w_avg = nets.G->mapping->w_avg;
  EXPECT_GT(w_avg.abs().sum().item<double>(), 0);
  EXPECT_TRUE(torch::equal(w_avg, nets.G_ema->mapping->w_avg));
  EXPECT_TRUE(nets.D->named_parameters().contains(
      "discriminator.mini_discs.0.main.0.main.0.depthwise.weight_orig"));
}

TEST(TrainingTest, FirstIterationCopiesGIntoGEmaAndMovesParameters) {
  TestDir dir;
  LocalProcessGroup group;
  auto trainer = MakeTrainer(TinyConfig(dir), "", &group);
  ASSERT_NE(trainer, nullptr);
  const torch::Tensor before =
      trainer->networks()
          .G->named_parameters()["synthesis.to_big.bias"]
          .clone();
  ASSERT_TRUE(trainer->Run(1).ok());
  Networks& nets = trainer->networks();
  EXPECT_FALSE(torch::equal(
      before, nets.G->named_parameters()["synthesis.to_big.bias"]));
  // beta = 0.5^(batch / max(min(ema_nimg, 0 * rampup), 1e-8)) = 0 at cur_nimg
  // 0.
  ExpectSameState(*nets.G, *nets.G_ema, "G vs G_ema");
  EXPECT_TRUE(std::filesystem::exists(trainer->run_dir() + "/stats.jsonl"));
  EXPECT_TRUE(std::filesystem::exists(trainer->run_dir() + "/fakes_init.png"));
}

TEST(TrainingTest, StopFlagWritesASnapshotToResumeFrom) {
  TestDir dir;
  LocalProcessGroup group;
  std::atomic<bool> stop{true};  // Stop after the first iteration.
  auto trainer = MakeTrainer(TinyConfig(dir), "", &group, &stop);
  ASSERT_NE(trainer, nullptr);
  ASSERT_TRUE(trainer->Run().ok());
  EXPECT_EQ(trainer->progress().batch_idx, 1);
  const auto snapshots = ListSnapshots(trainer->run_dir());
  ASSERT_FALSE(snapshots.empty());
  auto state = ReadSnapshotState(snapshots.back().path);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->progress.batch_idx, 1);
  EXPECT_TRUE(std::filesystem::exists(trainer->run_dir() +
                                      "/network-snapshot-000000.safetensors"));
}

// --resume of a network file (an exported one, or a reference pickle
// converted by tools/convert_pkl.py, which writes the same format) starts a
// NEW run from its G, G_ema and D, as the reference's --resume: another
// dataset, counters at zero, no G_ema ramp-up, a run directory of its own.
TEST(TrainingTest, ANetworkFileStartsANewRunFromItsWeights) {
  TestDir dir;
  LocalProcessGroup group;
  config::TrainingConfig source_config = TinyConfig(dir);
  source_config.kimg = 0.004;  // Two iterations.
  auto source = MakeTrainer(source_config, "", &group);
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(source->Run().ok());
  const std::string network =
      source->run_dir() + "/network-snapshot-000000.safetensors";
  ASSERT_TRUE(std::filesystem::exists(network));
  auto exported = LoadNetworkFile(network);
  ASSERT_TRUE(exported.ok()) << exported.status();

  // Another dataset of the same resolution; the model options left at their
  // defaults come from the network.
  config::TrainingConfig config;
  config.data = dir.file("other");
  ASSERT_TRUE(
      testing::WriteRandomImageFolder(config.data, 6, 32, /*seed=*/77).ok());
  config.outdir = dir.file("finetune");
  config.batch = 2;
  config.batch_gpu = 1;
  config.kimg = 0.004;
  config.tick = 0.002;
  config.snap = 1000;
  config.grid_width = 2;
  config.grid_height = 1;
  config.workers = 2;
  config.device = "cpu";
  config.desc = "transfer";
  auto plan = PlanRun(config, network, 1, config::Surface::kFlags);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->resume_path.empty());
  EXPECT_EQ(plan->init_network, network);
  EXPECT_EQ(plan->config.model.ngf, 8);
  EXPECT_EQ(plan->config.ema_rampup, 0);

  auto tuned = MakeTrainer(config, network, &group);
  ASSERT_NE(tuned, nullptr);
  EXPECT_EQ(tuned->progress().cur_nimg, 0);
  EXPECT_NE(tuned->run_dir(), source->run_dir());
  // --desc ends the run directory's name, as in the reference.
  EXPECT_TRUE(absl::EndsWith(tuned->run_dir(), "-gpus1-batch2-transfer"))
      << tuned->run_dir();

  ExpectSameState(*tuned->networks().G, *exported->G, "G");
  ExpectSameState(*tuned->networks().G_ema, *exported->G_ema, "G_ema");
  ExpectSameState(*tuned->networks().D, *exported->D, "D");
  ASSERT_TRUE(tuned->Run().ok());
  EXPECT_EQ(tuned->progress().batch_idx, 2);
  // reals.png, as the reference writes it at the start.
  EXPECT_TRUE(std::filesystem::exists(tuned->run_dir() + "/reals.png"));
  std::ifstream options(tuned->run_dir() + "/training_options.json");
  const nlohmann::json recorded = nlohmann::json::parse(options);
  EXPECT_EQ(recorded["resume_pkl"], network);
  EXPECT_EQ(recorded["ema_rampup"], 0);
  EXPECT_EQ(recorded["data"], config.data);

  // A model option given with another value than the network's is refused.
  config.model.cfg = "fastgan_lite";
  auto conflict = PlanRun(config, network, 1, config::Surface::kFlags);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(conflict.status().message().find("--cfg: fastgan_lite, but "),
            std::string::npos)
      << conflict.status();
  // A snapshot still continues its run exactly.
  config.model.cfg = "fastgan";
  const auto snapshots = ListSnapshots(source->run_dir());
  ASSERT_FALSE(snapshots.empty());
  auto resumed = PlanRun(source_config, snapshots.back().path, 1,
                         config::Surface::kFlags);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->resume_path, snapshots.back().path);
  EXPECT_TRUE(resumed->init_network.empty());
  EXPECT_GT(resumed->progress.cur_nimg, 0);
}

// Freeze-D (--freezed 1): the first block of every mini discriminator keeps
// its weights through training; the rest of D trains.
TEST(TrainingTest, FreezeDKeepsTheFirstBlocksOfEveryMiniDiscriminator) {
  TestDir dir;
  LocalProcessGroup group;
  config::TrainingConfig config = TinyConfig(dir);
  config.freezed = 1;
  auto trainer = MakeTrainer(config, "", &group);
  ASSERT_NE(trainer, nullptr);
  ProjectedDiscriminator& d = trainer->networks().D;
  std::map<std::string, torch::Tensor> before;
  for (const auto& item : d->discriminator->named_parameters()) {
    before[item.key()] = item.value().detach().clone();
  }
  const std::vector<std::string> trainable = d->trainable_parameter_names();
  EXPECT_LT(trainable.size(), before.size());
  ASSERT_TRUE(trainer->Run(2).ok());
  int frozen = 0, trained = 0;
  for (const auto& item : d->discriminator->named_parameters()) {
    const bool is_trainable =
        std::find(trainable.begin(), trainable.end(),
                  "discriminator." + item.key()) != trainable.end();
    const bool first_block =
        item.key().find(".main.0.main.") != std::string::npos;  // A DownBlock.
    EXPECT_EQ(is_trainable, !first_block) << item.key();
    const bool same = torch::equal(item.value(), before[item.key()]);
    if (first_block) {
      ++frozen;
      EXPECT_TRUE(same) << item.key();
      EXPECT_FALSE(item.value().requires_grad()) << item.key();
    } else if (!same) {
      ++trained;
    }
  }
  EXPECT_GT(frozen, 0);
  EXPECT_GT(trained, 0);
}

// The reference's GPU numerics: cuDNN benchmarking on and TF32 off unless
// asked for (LibTorch's own default allows TF32 in cuDNN).
TEST(TrainingTest, TF32IsOffAndCudnnBenchmarkOnUnlessAskedFor) {
  TestDir dir;
  LocalProcessGroup group;
  config::TrainingConfig config = TinyConfig(dir);
  at::globalContext().setAllowTF32CuDNN(true);
  at::globalContext().setBenchmarkCuDNN(false);
  ASSERT_NE(MakeTrainer(config, "", &group), nullptr);
  EXPECT_FALSE(at::globalContext().allowTF32CuBLAS());
  EXPECT_FALSE(at::globalContext().allowTF32CuDNN());
  EXPECT_TRUE(at::globalContext().benchmarkCuDNN());
  config.allow_tf32 = true;
  config.nobench = true;
  ASSERT_NE(MakeTrainer(config, "", &group), nullptr);
  EXPECT_TRUE(at::globalContext().allowTF32CuBLAS());
  EXPECT_TRUE(at::globalContext().allowTF32CuDNN());
  EXPECT_FALSE(at::globalContext().benchmarkCuDNN());
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
}

// Rank 0 of a pretend job of two whose rank 1 mirrors every collective
// except that its parameter fingerprint differs (the only gathered value
// that is neither 0 nor 1: the others are stop flags).
class DivergedPeerGroup : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  int local_rank() const override { return 0; }
  absl::Status SumGradients(std::vector<torch::Tensor>&) override {
    return absl::OkStatus();
  }
  absl::Status BroadcastFromRoot(std::vector<torch::Tensor>&) override {
    return absl::OkStatus();
  }
  absl::Status SumValues(std::vector<double>& values) override {
    for (double& v : values) v *= 2;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<uint64_t>> GatherValues(uint64_t value) override {
    return std::vector<uint64_t>{value, value > 1 ? value ^ 1 : value};
  }
};

TEST(TrainingTest, RanksWhoseParametersDifferStopTheJob) {
  TestDir dir;
  DivergedPeerGroup group;
  auto trainer = MakeTrainer(TinyConfig(dir), "", &group);
  ASSERT_NE(trainer, nullptr);
  const absl::Status status = trainer->Run().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
  EXPECT_NE(status.message().find("rank(s) 1 differ from rank 0"),
            std::string::npos)
      << status;
  EXPECT_EQ(trainer->progress().batch_idx, 1)
      << "the first tick's check must catch it";
}

TEST(TrainingTest, ConfigurationErrorsNameTheOption) {
  TestDir dir;
  LocalProcessGroup group;
  TrainerEnvironment env;
  env.group = &group;
  config::TrainingConfig config = TinyConfig(dir);

  config.batch_gpu = 3;
  EXPECT_NE(
      Trainer::Create(config, "", env).status().message().find("--batch-gpu"),
      std::string::npos);
  config = TinyConfig(dir);
  config.model.resolution = 64;
  auto status = Trainer::Create(config, "", env).status();
  EXPECT_NE(status.message().find("holds 32x32 images"), std::string::npos)
      << status;
  config = TinyConfig(dir);
  config.feature_weights = dir.file("missing.safetensors");
  status = Trainer::Create(config, "", env).status();
  EXPECT_NE(status.message().find("missing.safetensors"), std::string::npos)
      << status;
  config = TinyConfig(dir);
  config.cond = true;
  status = Trainer::Create(config, "", env).status();
  EXPECT_NE(status.message().find("--cond"), std::string::npos) << status;
  config = TinyConfig(dir);
  status = Trainer::Create(config, "latest", env).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
}

// The reference has no --res: a new run's model takes the dataset's.
TEST(TrainingTest, TheResolutionIsTheDatasetsWhenNotGiven) {
  TestDir dir;
  config::TrainingConfig config = TinyConfig(dir);
  config.model.resolution = config::TrainingConfig().model.resolution;
  ASSERT_EQ(config.model.resolution, 0);
  auto plan = PlanRun(config, "", 1, config::Surface::kFlags);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->config.model.resolution, 32);
  std::ostringstream dry;
  ASSERT_TRUE(DryRun(config, "", 1, config::Surface::kFlags, dry).ok());
  EXPECT_NE(dry.str().find("\"resolution\": 32"), std::string::npos)
      << dry.str();

  LocalProcessGroup group;
  auto trainer = MakeTrainer(config, "", &group);
  ASSERT_NE(trainer, nullptr);
  EXPECT_EQ(trainer->config().model.resolution, 32);
  ASSERT_TRUE(trainer->Run(1).ok());
  ASSERT_TRUE(trainer->WriteSnapshot().ok());
  // Resumed without --res, the snapshot's (not the dataset's again).
  auto resumed = PlanRun(config, trainer->run_dir(), 1, config::Surface::kFlags);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->config.model.resolution, 32);
}

std::vector<int64_t> TickNumbers(const std::string& run_dir) {
  std::vector<int64_t> ticks;
  std::ifstream in(run_dir + "/stats.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    ticks.push_back(nlohmann::json::parse(line).at("tick").get<int64_t>());
  }
  return ticks;
}

// The reference's --restart_every: past the time, the next tick writes a
// snapshot and the process ends for a restart; the same configuration,
// started again without --resume, continues that run directory, and the
// restarted run ends where an uninterrupted one does.
TEST(TrainingTest, RestartEveryEndsAtATickAndTheSameCommandContinues) {
  TestDir dir;
  config::TrainingConfig config = TinyConfig(dir);
  config.kimg = 0.008;  // Four iterations, a tick each.
  LocalProcessGroup group;
  config::TrainingConfig uninterrupted = config;
  uninterrupted.outdir = dir.file("straight");
  auto straight = MakeTrainer(uninterrupted, "", &group);
  ASSERT_NE(straight, nullptr);
  ASSERT_TRUE(straight->Run().ok());

  config.restart_every = 1;
  auto first = MakeTrainer(config, "", &group);
  ASSERT_NE(first, nullptr);
  // Past the time before the first tick (tick 0, after one iteration).
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto end = first->Run();
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_EQ(*end, RunEnd::kRestart);
  EXPECT_EQ(first->progress().batch_idx, 1);
  const std::string run_dir = first->run_dir();
  const auto snapshots = ListSnapshots(run_dir);
  ASSERT_EQ(snapshots.size(), 1u);
  auto state = ReadSnapshotState(snapshots.back().path);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->progress.batch_idx, 1);
  EXPECT_EQ(state->progress.cur_tick, 1);  // Tick 0 is complete.
  std::ifstream log(run_dir + "/log.txt");
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_NE(text.str().find("Restart job"), std::string::npos) << text.str();
  first.reset();

  // Each attempt makes at least one iteration, so four attempts at most.
  std::unique_ptr<Trainer> last;
  RunEnd last_end = RunEnd::kRestart;
  for (int attempt = 0; attempt < 4 && last_end == RunEnd::kRestart;
       ++attempt) {
    last = MakeTrainer(config, "", &group);
    ASSERT_NE(last, nullptr);
    EXPECT_EQ(last->run_dir(), run_dir);
    EXPECT_GE(last->progress().batch_idx, 1);
    auto next = last->Run();
    ASSERT_TRUE(next.ok()) << next.status();
    last_end = *next;
  }
  EXPECT_EQ(last_end, RunEnd::kFinished);
  EXPECT_EQ(last->progress().cur_nimg, straight->progress().cur_nimg);
  ExpectSameState(*straight->networks().G, *last->networks().G, "G");
  ExpectSameState(*straight->networks().G_ema, *last->networks().G_ema,
                  "G_ema");
  ExpectSameState(*straight->networks().D, *last->networks().D, "D");
  // Every tick once, as in the uninterrupted run.
  EXPECT_EQ(TickNumbers(run_dir), TickNumbers(straight->run_dir()));
  EXPECT_EQ(TickNumbers(run_dir), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(config.outdir),
                          std::filesystem::directory_iterator()),
            1);
}

// Two run directories of one description: which one to continue is
// ambiguous, and the message names both.
TEST(TrainingTest, RestartEveryRefusesTwoRunsOfOneDescription) {
  TestDir dir;
  config::TrainingConfig config = TinyConfig(dir);
  const std::string description = RunDescription(config, 1);
  EXPECT_EQ(description, "fastgan-data-gpus1-batch2");
  std::filesystem::create_directories(config.outdir + "/00000-" + description);
  std::filesystem::create_directories(config.outdir + "/00003-" + description);
  std::filesystem::create_directories(config.outdir + "/00004-" + description +
                                      "-other");
  config.restart_every = 60;
  const absl::Status status =
      PlanRun(config, "", 1, config::Surface::kFlags).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("00000-" + description), std::string::npos);
  EXPECT_NE(status.message().find("00003-" + description), std::string::npos);
  EXPECT_EQ(status.message().find("-other"), std::string::npos) << status;
  // One without a snapshot yet is where the new run goes.
  std::filesystem::remove(config.outdir + "/00000-" + description);
  auto plan = PlanRun(config, "", 1, config::Surface::kFlags);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->run_dir, config.outdir + "/00003-" + description);
  EXPECT_TRUE(plan->resume_path.empty());
}

// Metric lines of a run, oldest first.
std::vector<nlohmann::json> ReadJsonLines(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

config::TrainingConfig MetricsConfig(const TestDir& dir) {
  config::TrainingConfig config = TinyConfig(dir);
  config.kimg = 0.008;  // Four iterations, a tick each.
  config.snap = 2;      // Snapshots at ticks 0 and 2, and at the end.
  config.metrics = {"fd16_full"};
  config.metrics_cache = dir.file("stats-cache");
  return config;
}

TEST(TrainingTest, MetricsAtSnapshotsWithCachedDatasetStatistics) {
  TestDir dir;
  const config::TrainingConfig config = MetricsConfig(dir);
  LocalProcessGroup group;
  std::ostringstream log;
  TrainerEnvironment env;
  env.group = &group;
  env.log = &log;
  auto first = Trainer::Create(config, "", env);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*first)->Run().ok());
  const std::string metric = "fd16_full_efficientnet_lite0";
  const auto lines = ReadJsonLines((std::filesystem::path((*first)->run_dir()) /
                                    ("metric-" + metric + ".jsonl"))
                                       .string());
  ASSERT_EQ(lines.size(), 3u) << log.str();
  EXPECT_EQ(lines[0]["kimg"], 0.002);
  EXPECT_EQ(lines[2]["kimg"], 0.008);
  EXPECT_FALSE(lines[0]["reals_cached"].get<bool>());
  EXPECT_EQ(lines[0]["num_fakes"], 16);
  EXPECT_EQ(lines[0]["num_reals"], 8);
  double best = 1e300;
  std::string best_snapshot;
  for (const auto& line : lines) {
    const double value = line["results"][metric].get<double>();
    EXPECT_GT(value, 0);
    if (value < best) {
      best = value;
      best_snapshot = line["snapshot_pkl"].get<std::string>();
    }
  }
  // The best snapshot outlives retention (which keeps only the latest).
  EXPECT_TRUE(std::filesystem::exists(
      std::filesystem::path((*first)->run_dir()) / best_snapshot));
  // The tick records carry the results.
  int with_metrics = 0;
  for (const auto& record : ReadJsonLines(
           (std::filesystem::path((*first)->run_dir()) / "stats.jsonl")
               .string())) {
    if (!record["metrics"].empty()) {
      ++with_metrics;
      EXPECT_EQ(record["metrics_kimg"], record["kimg"]);  // Not async.
    }
  }
  EXPECT_EQ(with_metrics, 3);
  EXPECT_NE(log.str().find(metric), std::string::npos);

  // A second run on the same data takes the dataset statistics from the
  // cache, and measures the same generator the same way.
  std::ostringstream log2;
  env.log = &log2;
  auto second = Trainer::Create(config, "", env);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(log2.str().find("from the cache"), std::string::npos) << log2.str();
  EXPECT_EQ(
      log2.str().find("Dataset statistics (efficientnet_lite0): 8 images"),
      std::string::npos);
  ASSERT_TRUE((*second)->Run().ok());
  const auto again =
      ReadJsonLines((std::filesystem::path((*second)->run_dir()) /
                     ("metric-" + metric + ".jsonl"))
                        .string());
  ASSERT_EQ(again.size(), 3u);
  EXPECT_TRUE(again[0]["reals_cached"].get<bool>());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(again[i]["results"][metric], lines[i]["results"][metric]) << i;
  }
}

// The reference's metrics in training: NVIDIA's detectors (here the
// stand-ins of tests/trainer/testdata/metrics), the reals without their
// flips although the run trains with --mirror, and metric-<name>.jsonl
// records as the reference writes them, PR's holding both results.
TEST(TrainingTest, TheReferenceMetricsAreWrittenAsTheReferenceWritesThem) {
  TestDir dir;
  config::TrainingConfig config = TinyConfig(dir);
  config.kimg = 0.004;  // Two iterations: evaluations at tick 0 and the end.
  config.mirror = true;
  config.metrics = {"fid16_full", "pr163_full"};
  config.inception =
      std::string(PGAN_TESTDATA_DIR) + "/metrics/inception.pt";
  config.vgg16 = std::string(PGAN_TESTDATA_DIR) + "/metrics/vgg16.pt";
  config.metrics_cache = dir.file("stats-cache");
  LocalProcessGroup group;
  auto trainer = MakeTrainer(config, "", &group);
  ASSERT_NE(trainer, nullptr);
  ASSERT_TRUE(trainer->Run().ok());
  const std::filesystem::path run_dir = trainer->run_dir();
  const auto fid = ReadJsonLines((run_dir / "metric-fid16_full.jsonl").string());
  ASSERT_EQ(fid.size(), 2u);
  for (const auto& line : fid) {
    EXPECT_EQ(line["metric"], "fid16_full");
    EXPECT_GT(line["results"]["fid16_full"].get<double>(), 0);
    EXPECT_EQ(line["num_reals"], 8);  // Not the 16 items with flips.
    EXPECT_EQ(line["num_fakes"], 16);
  }
  const auto pr = ReadJsonLines((run_dir / "metric-pr163_full.jsonl").string());
  ASSERT_EQ(pr.size(), 2u);
  for (const auto& line : pr) {
    EXPECT_EQ(line["metric"], "pr163_full");
    ASSERT_EQ(line["results"].size(), 2u) << line.dump();
    for (const char* key : {"pr163_full_precision", "pr163_full_recall"}) {
      const double v = line["results"][key].get<double>();
      EXPECT_GE(v, 0) << key;
      EXPECT_LE(v, 1) << key;
    }
  }
  EXPECT_FALSE(std::filesystem::exists(run_dir / "metric-pr163_full_precision.jsonl"));
}

TEST(TrainingTest, AsyncMetricsMatchSynchronousOnes) {
  TestDir dir;
  config::TrainingConfig config = MetricsConfig(dir);
  config.snap = 1;  // A snapshot (and an evaluation) at every tick.
  LocalProcessGroup group;
  auto sync = MakeTrainer(config, "", &group);
  ASSERT_NE(sync, nullptr);
  ASSERT_TRUE(sync->Run().ok());
  config.metrics_async = true;
  auto async = MakeTrainer(config, "", &group);
  ASSERT_NE(async, nullptr);
  ASSERT_TRUE(async->Run().ok());
  const std::string file = "metric-fd16_full_efficientnet_lite0.jsonl";
  const auto a =
      ReadJsonLines((std::filesystem::path(sync->run_dir()) / file).string());
  const auto b =
      ReadJsonLines((std::filesystem::path(async->run_dir()) / file).string());
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["kimg"], b[i]["kimg"]);
    EXPECT_EQ(a[i]["results"], b[i]["results"]) << i;
  }
  for (const auto& record :
       ReadJsonLines((std::filesystem::path(async->run_dir()) / "stats.jsonl")
                         .string())) {
    if (!record["metrics"].empty()) {
      EXPECT_LE(record["metrics_kimg"].get<double>(),
                record["kimg"].get<double>());
    }
  }
}

}  // namespace
}  // namespace pgan::trainer
