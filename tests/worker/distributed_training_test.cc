// Multi-process training under mpirun on the CPU, through the real `pgan`
// binary: two ranks with one accumulation round each train like one process
// with two rounds, and snapshots resume at another world size.
//
// Every comparison starts from the same state and compares one iteration on
// one process with one on two ranks, by how much the parameter *updates*
// differ: ||(a - S) - (b - S)|| / ||a - S|| per network, S the start.
// Three effects remain, all of them the reference's too:
// - Spectral norm runs one power iteration per forward, so one process with
//   two rounds refines u and v twice per phase where each rank does once.
//   That is a real difference in the dynamics (early in training, when u and
//   v are far from converged, 40% of one iteration's update on this model);
//   the test freezes the power iteration (PGAN_TESTING_FREEZE_SPECTRAL_NORM)
//   to compare everything else.
// - Ranks average their gradients (the reference's quirk 11) where one
//   process sums its rounds, so Adam's eps (1e-8) meets a gradient half as
//   large: G's updates differ by about eps / sqrt(v), measured 7e-7. G's
//   gradients themselves are bit-identical (two addends are one float
//   addition either way), and so are its stored Adam moments.
// - D sums four backward passes per iteration (fake and real, two rounds) in
//   another order than two ranks do, so its gradients differ by rounding.
//   Where a gradient is zero in exact arithmetic (BatchNorm in training mode
//   cancels it: the bias of the convolution before it, and weights on an
//   input that is constant over the batch) that rounding noise has either
//   sign, and Adam divides it by its own tiny second moment: such elements
//   move by up to a learning rate either way. They cannot change a
//   training-mode output. The biases are left out; of D's other weights
//   about 2 in 10,000 are affected (measured 2,649 of 13.7 million), so D is
//   held to looser bounds than G.
// Over more iterations that noise feeds back through the losses of this
// small, fast-moving GAN and the runs drift apart (2-5% after two more
// iterations), so each comparison is of one iteration from one state.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/safetensors.h"
#include "tests/common/subprocess.h"
#include "tests/common/test_dir.h"
#include "tests/trainer/random_images.h"
#include "trainer/run_dir.h"
#include "trainer/state_dict.h"
#include "worker/communicator.h"

namespace pgan {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::RunCommand;
using ::pgan::testing::TestDir;

constexpr char kFreeze[] = "PGAN_TESTING_FREEZE_SPECTRAL_NORM";
constexpr int kBatch = 4;

// Per network (G, G_ema, D, opt_G, opt_D): the relative L2 difference of
// the updates, and the fraction of elements whose updates differ by more
// than 1% of the learning rate.
struct Difference {
  double relative_l2 = 0;
  double fraction_off = 0;
};
using Differences = std::map<std::string, Difference>;
constexpr double kOnePercentOfLr = 2e-6;

class DistributedTrainingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.file("data");
    ASSERT_TRUE(
        testing::WriteRandomImageFolder(data_, 8, 32, /*seed=*/21).ok());
    // S: one iteration of one process, with live spectral norm (u and v
    // need one real refinement before freezing them makes sense).
    start_ = dir_.file("start");
    Run(absl::StrCat(PGAN_BINARY, " train --outdir ", start_, " --data ", data_,
                     " --cfg fastgan --res 32 --ngf 8 --batch ", kBatch,
                     " --batch-gpu 2 --tick 0.004 --snap 1000 --grid 2x1"
                     " --device cpu --threads 1 --workers 1 --kimg ",
                     Kimg(1)));
  }

  static std::string Kimg(int iterations) {
    return absl::StrCat(iterations * kBatch / 1000.0);
  }

  static void Run(const std::string& command) {
    const auto result = RunCommand(command);
    ASSERT_EQ(result.exit_code, 0) << command << "\n" << result.output;
  }

  // A copy of S's run directory under `name`.
  std::string CopyOfStart(const std::string& name) {
    const std::string outdir = dir_.file(name);
    fs::copy(start_, outdir, fs::copy_options::recursive);
    return outdir;
  }

  // Continues the latest run in `outdir` on `ranks` processes (1: without
  // mpirun) until `iterations` iterations in all.
  void Continue(const std::string& outdir, int ranks, int iterations,
                bool freeze = true) {
    std::string launcher;
    if (ranks > 1) {
      // Root may run mpirun in containers and CI only with these flags.
      launcher = absl::StrCat(
          PGAN_MPIEXEC, " --allow-run-as-root --oversubscribe",
          freeze ? absl::StrCat(" -x ", kFreeze) : "", " -np ", ranks, " ");
    }
    Run(absl::StrCat(freeze ? absl::StrCat(kFreeze, "=1 ") : "", launcher,
                     PGAN_BINARY, " train --outdir ", outdir,
                     " --resume latest --threads 1 --kimg ", Kimg(iterations)));
  }

  static std::string Latest(const std::string& outdir) {
    auto path = trainer::ResolveResume("latest", outdir);
    EXPECT_TRUE(path.ok()) << path.status();
    return path.ok() ? *path : "";
  }

  // Skipped tensors: see the file comment; BatchNorm statistics are per rank
  // (rank 0's are saved) and never used by training-mode forwards.
  static bool Compared(const std::string& name) {
    if (absl::StrContains(name, "running_") ||
        absl::StrContains(name, "num_batches_tracked") ||
        absl::EndsWith(name, ".step")) {
      return false;
    }
    // D's down blocks: main.0 is a conv with bias, main.1 its BatchNorm.
    return !(absl::StrContains(name, "mini_discs.") &&
             absl::StrContains(name, ".main.0.bias"));
  }

  Differences UpdateDifferences(const std::string& start,
                                const std::string& a_path,
                                const std::string& b_path) {
    auto s = SafetensorsFile::Open(start);
    auto a = SafetensorsFile::Open(a_path);
    auto b = SafetensorsFile::Open(b_path);
    EXPECT_TRUE(s.ok() && a.ok() && b.ok());
    Differences out;
    if (!s.ok() || !a.ok() || !b.ok()) return out;
    std::map<std::string, double> diff2, update2, off, total;
    for (const TensorEntry& ea : a->tensors()) {
      if (ea.dtype != DType::kF32 || !Compared(ea.name)) continue;
      const TensorEntry* eb = b->Find(ea.name);
      const TensorEntry* es = s->Find(ea.name);
      EXPECT_TRUE(eb != nullptr && es != nullptr) << ea.name;
      if (eb == nullptr || es == nullptr) continue;
      const torch::Tensor ts = trainer::TensorFromEntry(*es).to(torch::kDouble);
      const torch::Tensor ua =
          trainer::TensorFromEntry(ea).to(torch::kDouble) - ts;
      const torch::Tensor ub =
          trainer::TensorFromEntry(*eb).to(torch::kDouble) - ts;
      const std::string net = ea.name.substr(0, ea.name.find('.'));
      diff2[net] += (ua - ub).square().sum().item<double>();
      update2[net] += ua.square().sum().item<double>();
      off[net] += ((ua - ub).abs() > kOnePercentOfLr).sum().item<double>();
      total[net] += static_cast<double>(ua.numel());
    }
    for (const auto& [net, d2] : diff2) {
      Difference& d = out[net];
      d.relative_l2 = std::sqrt(d2 / std::max(update2[net], 1e-300));
      d.fraction_off = off[net] / total[net];
      std::cout << "  " << net << ": relative L2 " << d.relative_l2 << ", "
                << off[net] << " of " << total[net]
                << " elements off by more than 1% of the learning rate\n";
    }
    return out;
  }

  TestDir dir_;
  std::string data_;
  std::string start_;
};

// Bounds from the measurements at the top: G 7e-7 (bound 1e-5), D 1.2e-3
// (bound 1e-2) with 2e-4 of its elements off (bound 1e-3).
void ExpectSameUpdates(const Differences& d) {
  ASSERT_EQ(d.size(), 5u);
  for (const char* net : {"G", "G_ema", "opt_G"}) {
    EXPECT_LT(d.at(net).relative_l2, 1e-5) << net;
  }
  for (const char* net : {"D", "opt_D"}) {
    EXPECT_LT(d.at(net).relative_l2, 1e-2) << net;
    EXPECT_LT(d.at(net).fraction_off, 1e-3) << net;
  }
}

// Issue 15's second failure: rank 0 alone renders the sample grids and
// writes the snapshots while rank 1 waits for it at the next collective.
// Here that work (two 32x32 grids, about 10 s each on one core) far
// outlasts the collective timeout (2 s; 3 s to release a collective), and
// the healthy job must still end well.
TEST(RankZeroWorkTest, WorkLongerThanTheCollectiveTimeoutDoesNotAbortTheJob) {
  TestDir dir;
  const std::string data = dir.file("data");
  ASSERT_TRUE(testing::WriteRandomImageFolder(data, 16, 32, /*seed=*/7).ok());
  const std::string outdir = dir.file("out");
  const auto result = RunCommand(absl::StrCat(
      PGAN_MPIEXEC, " --allow-run-as-root --oversubscribe -np 2 ", PGAN_BINARY,
      " train --outdir ", outdir, " --data ", data,
      " --cfg fastgan_lite --res 32 --ngf 8 --batch 8 --batch-gpu 4"
      " --kimg 0.008 --tick 0.008 --snap 1 --grid 32x32 --comm-timeout 2"
      " --device cpu --threads 1 --workers 1"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto run = trainer::ResolveResume("latest", outdir);
  ASSERT_TRUE(run.ok()) << run.status();
  const std::string run_dir = fs::path(*run).parent_path().string();
  for (const char* file : {"fakes_init.png", "fakes000000.png"}) {
    EXPECT_TRUE(fs::exists(fs::path(run_dir) / file)) << file;
  }
  const std::string log = ReadFile(run_dir + "/log.txt").value_or("");
  EXPECT_NE(log.find("Sample grids of 32x32 images"), std::string::npos)
      << log;
  EXPECT_NE(result.output.find("Done at 0.008 kimg"), std::string::npos)
      << result.output;
}

TEST_F(DistributedTrainingTest, TwoRanksTrainLikeOneProcessAccumulating) {
  const std::string one = CopyOfStart("one"), two = CopyOfStart("two");
  Continue(one, 1, 2);
  Continue(two, 2, 2);
  std::cout << "update difference, 1 vs 2 processes:\n";
  const Differences d =
      UpdateDifferences(Latest(start_), Latest(one), Latest(two));
  ExpectSameUpdates(d);
  EXPECT_GT(d.at("G").relative_l2, 0.0)
      << "bit-identical: is the second run really on two ranks?";
}

// A snapshot written by 2 ranks continues on 1 (and the other way) exactly as
// the run that wrote it would have continued on 1 (on 2): the networks and
// the optimisers' moments, whose scale depends on the world size, carry over.
TEST_F(DistributedTrainingTest, SnapshotsResumeAtAnotherWorldSize) {
  // 2 ranks for an iteration, then either 1 process or 1 more on 2 ranks.
  const std::string two_one = CopyOfStart("two_then_one");
  const std::string two_two = CopyOfStart("two_then_two");
  Continue(two_one, 2, 2);
  Continue(two_two, 2, 2);
  const std::string two_after_one = Latest(two_one);
  const std::string copy = dir_.file("two_after_one.safetensors");
  fs::copy_file(two_after_one, copy);
  Continue(two_one, 1, 3);
  Continue(two_two, 2, 3);
  std::cout << "update difference, resumed on 1 process vs continued on 2:\n";
  ExpectSameUpdates(UpdateDifferences(copy, Latest(two_one), Latest(two_two)));

  // And from 1 process to 2 ranks.
  const std::string one_two = CopyOfStart("one_then_two");
  const std::string one_one = CopyOfStart("one_then_one");
  Continue(one_two, 1, 2);
  Continue(one_one, 1, 2);
  const std::string copy1 = dir_.file("one_after_one.safetensors");
  fs::copy_file(Latest(one_two), copy1);
  Continue(one_two, 2, 3);
  Continue(one_one, 1, 3);
  std::cout << "update difference, resumed on 2 ranks vs continued on 1:\n";
  ExpectSameUpdates(UpdateDifferences(copy1, Latest(one_one), Latest(one_two)));
}

// pgan-worker takes the job from a file: the same training, and a typo in
// the file is an error naming the field (on every rank, before any work).
TEST_F(DistributedTrainingTest, WorkerRunsAJobFile) {
  const std::string job = dir_.file("job.json");
  const std::string outdir = dir_.file("worker_runs");
  ASSERT_TRUE(
      WriteFileAtomically(
          job,
          absl::StrCat(R"({"data": ")", data_, R"(", "outdir": ")", outdir,
                       R"(", "cfg": "fastgan", "res": 32, "ngf": 8,)"
                       R"( "batch": 4, "batch_gpu": 2, "kimg": 0.004,)"
                       R"( "tick": 0.004, "grid_width": 2, "grid_height": 1,)"
                       R"( "device": "cpu", "threads": 1, "workers": 1,)"
                       R"( "comm_timeout": 30})"))
          .ok());
  const std::string mpirun =
      absl::StrCat(PGAN_MPIEXEC, " --allow-run-as-root --oversubscribe -np 2 ");
  Run(absl::StrCat(mpirun, PGAN_WORKER, " --job ", job));
  auto snapshot = trainer::ResolveResume("latest", outdir);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_NE(snapshot->find("gpus2"), std::string::npos) << *snapshot;

  ASSERT_TRUE(
      WriteFileAtomically(job, R"({"data": "x", "batch_size": 4})").ok());
  const auto result =
      RunCommand(absl::StrCat(mpirun, PGAN_WORKER, " --job ", job));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("unknown field \"batch_size\""),
            std::string::npos)
      << result.output;
}

// The pid of the process of rank `rank` whose command line contains
// `marker`, from /proc (Open MPI sets OMPI_COMM_WORLD_RANK); -1 if none.
pid_t FindRank(const std::string& marker, int rank) {
  const std::string want = absl::StrCat("OMPI_COMM_WORLD_RANK=", rank);
  for (const fs::directory_entry& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto cmdline = ReadFile((entry.path() / "cmdline").string());
    auto environ = ReadFile((entry.path() / "environ").string());
    if (!cmdline.ok() || !environ.ok()) continue;
    std::replace(cmdline->begin(), cmdline->end(), '\0', ' ');
    if (!absl::StrContains(*cmdline, marker) ||
        !absl::StrContains(*cmdline, "train")) {
      continue;
    }
    for (absl::string_view var : absl::StrSplit(*environ, '\0')) {
      if (var == want) return static_cast<pid_t>(std::stol(name));
    }
  }
  return -1;
}

// A training rank that stops (SIGSTOP: a hung device, a debugger) or dies
// (SIGKILL: the OOM killer) ends the whole job within seconds instead of
// hanging it; a stopped one is named.
class DeadRankTest : public DistributedTrainingTest,
                     public ::testing::WithParamInterface<int> {};

TEST_P(DeadRankTest, EndsTheJobWithinSeconds) {
  const int signal = GetParam();
  const std::string outdir = dir_.file(absl::StrCat("dead_rank_", signal));
  const std::string command = absl::StrCat(
      "timeout -k 5 300 ", PGAN_MPIEXEC,
      " --allow-run-as-root --oversubscribe -np 2 ", PGAN_BINARY,
      " train --outdir ", outdir, " --data ", data_,
      " --cfg fastgan --res 32 --ngf 8 --batch 4 --batch-gpu 2 --tick 0.004"
      " --snap 1000 --grid 2x1 --device cpu --threads 1 --workers 1 --kimg 10"
      " --comm-timeout 3");
  testing::CommandResult result;
  std::atomic<bool> finished{false};
  std::thread job([&] {
    result = RunCommand(command);
    finished = true;
  });
  // Wait until both ranks train (rank 0 logs the first tick).
  pid_t victim = -1;
  for (int i = 0; i < 1200 && !finished; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    bool ticking = false;
    if (fs::exists(outdir)) {
      for (const fs::directory_entry& d : fs::directory_iterator(outdir)) {
        auto log = ReadFile((d.path() / "log.txt").string());
        ticking = ticking || (log.ok() && absl::StrContains(*log, "tick 1 "));
      }
    }
    if (ticking) {
      victim = FindRank(outdir, 1);
      break;
    }
  }
  ASSERT_GT(victim, 0) << "rank 1 of the job not found";
  const auto signalled = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(victim, signal), 0);
  job.join();
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - signalled)
                             .count();
  std::cout << "signal " << signal << " to rank 1: job ended after " << seconds
            << " s, exit " << result.exit_code << "\n";
  EXPECT_NE(result.exit_code, 0) << result.output;
  // The collective timeout is 3 s and an iteration here takes about 4 s;
  // timeout(1) would end the job only after 300 s.
  EXPECT_LT(seconds, 30) << result.output;
  if (signal == SIGSTOP) {
    EXPECT_EQ(result.exit_code, comm::kWatchdogExitCode) << result.output;
    EXPECT_TRUE(absl::StrContains(result.output, "rank 1 (pid"))
        << result.output;
    EXPECT_TRUE(absl::StrContains(result.output, "did not reach collective"))
        << result.output;
  }
}

INSTANTIATE_TEST_SUITE_P(StoppedOrKilled, DeadRankTest,
                         ::testing::Values(SIGSTOP, SIGKILL));

}  // namespace
}  // namespace pgan
