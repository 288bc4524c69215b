// Multi-process training under mpirun on the CPU, through the real `pgan`
// binary: snapshots resume at another world size, rank 0's long work does
// not trip the collective timeout, pgan-worker runs job files, and a dead
// or stopped rank ends the job. That one process and several train alike is
// tests/services/world_invariant_test.cc.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "tests/common/snapshot_diff.h"
#include "tests/common/subprocess.h"
#include "tests/common/test_dir.h"
#include "tests/trainer/random_images.h"
#include "trainer/run_dir.h"
#include "worker/communicator.h"

namespace pgan {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::RunCommand;
using ::pgan::testing::TestDir;

constexpr int kBatch = 4;

class DistributedTrainingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.file("data");
    ASSERT_TRUE(
        testing::WriteRandomImageFolder(data_, 8, 32, /*seed=*/21).ok());
    // S: one iteration of one process, world-invariant so that every
    // continuation of it can be compared exactly.
    start_ = dir_.file("start");
    Run(absl::StrCat(PGAN_BINARY, " train --outdir ", start_, " --data ", data_,
                     " --cfg fastgan --res 32 --ngf 8 --batch ", kBatch,
                     " --batch-gpu 2 --tick 0.004 --snap 1000 --grid 2x1"
                     " --device cpu --threads 1 --workers 1"
                     " --world-invariant on --kimg ",
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
  void Continue(const std::string& outdir, int ranks, int iterations) {
    std::string launcher;
    if (ranks > 1) {
      // Root may run mpirun in containers and CI only with these flags.
      launcher = absl::StrCat(PGAN_MPIEXEC,
                              " --allow-run-as-root --oversubscribe -np ",
                              ranks, " ");
    }
    Run(absl::StrCat(launcher, PGAN_BINARY, " train --outdir ", outdir,
                     " --resume latest --threads 1 --kimg ", Kimg(iterations)));
  }

  static std::string Latest(const std::string& outdir) {
    auto path = trainer::ResolveResume("latest", outdir);
    EXPECT_TRUE(path.ok()) << path.status();
    return path.ok() ? *path : "";
  }

  TestDir dir_;
  std::string data_;
  std::string start_;
};

void ExpectSameState(const std::string& a, const std::string& b) {
  const testing::SnapshotDiff d = testing::DiffSnapshots(a, b);
  std::cout << "  " << d << "\n";
  EXPECT_TRUE(d.error.empty()) << d.error;
  EXPECT_GT(d.elements, 0);
  EXPECT_TRUE(d.unmatched.empty()) << d;
  EXPECT_EQ(d.differing, 0) << d;
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

// A snapshot written by 2 ranks continues on 1 (and the other way) exactly as
// the run that wrote it would have continued on 2 (on 1): networks, buffers
// and the optimisers' state carry over (world-invariant, so bit for bit).
TEST_F(DistributedTrainingTest, SnapshotsResumeAtAnotherWorldSize) {
  // 2 ranks for an iteration, then either 1 process or 1 more on 2 ranks.
  const std::string two_one = CopyOfStart("two_then_one");
  const std::string two_two = CopyOfStart("two_then_two");
  Continue(two_one, 2, 2);
  Continue(two_two, 2, 2);
  Continue(two_one, 1, 3);
  Continue(two_two, 2, 3);
  std::cout << "resumed on 1 process vs continued on 2:\n";
  ExpectSameState(Latest(two_one), Latest(two_two));

  // And from 1 process to 2 ranks.
  const std::string one_two = CopyOfStart("one_then_two");
  const std::string one_one = CopyOfStart("one_then_one");
  Continue(one_two, 1, 2);
  Continue(one_one, 1, 2);
  Continue(one_two, 2, 3);
  Continue(one_one, 1, 3);
  std::cout << "resumed on 2 ranks vs continued on 1:\n";
  ExpectSameState(Latest(one_one), Latest(one_two));
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
