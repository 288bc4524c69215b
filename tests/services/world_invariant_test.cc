// --world-invariant on, spectral norm live: the same global batch trained
// by one process accumulating R rounds, by `mpirun -np R` (R = 2 and 4, and
// 2 ranks of 2 rounds), by a pool gang of 2 Gloo workers, and by an elastic
// pool job that loses a worker and finishes on one, ends in the same
// parameters, buffers (spectral norm's u and v, BatchNorm's statistics) and
// optimiser state after 20 iterations. The reference's mode does not, as a
// check that these runs really differ in their split.
//
// The tolerance, and why: each chunk of batch_gpu samples is computed the
// same way wherever it runs; only the float64 sums over chunks
// (trainer/world_invariant.h) see another order, and a float64 sum of a
// few float32 values is exact unless their magnitudes are 2^29 apart, so
// that its float32 rounding changes only when it lands within 2^-29 of a
// float32 ulp of a rounding boundary. Two addends are exact in any order
// (R = 2 must be bit-identical); with four, rare elements may be one ulp
// apart and then drift a little through 20 iterations of training: all but
// 1e-4 of the elements must be bit-identical and none may differ by more
// than 1e-3 relative. Measured on Debian 12's LibTorch 1.13 (x86-64, 2
// cores): every split here bit-identical, 0 of 27,961,852 elements.
//
// Every run uses one LibTorch thread (and one core per pool worker), so
// that a chunk's kernels are the same everywhere.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "tests/common/snapshot_diff.h"
#include "tests/common/subprocess.h"
#include "tests/services/pool_fixture.h"

namespace pgan::services {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::DiffSnapshots;
using ::pgan::testing::RunCommand;
using ::pgan::testing::SnapshotDiff;
using ::pgan::testing::WaitFor;

constexpr int kIterations = 20;

// The newest training snapshot (networks, buffers, optimisers) anywhere
// under `dir` ("" if none).
std::string LatestSnapshot(const std::string& dir) {
  std::string latest;
  if (!fs::exists(dir)) return latest;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (absl::StartsWith(name, "snapshot-") &&
        absl::EndsWith(name, ".safetensors") &&
        (latest.empty() || name >= fs::path(latest).filename().string())) {
      latest = e.path().string();
    }
  }
  return latest;
}

void ExpectSameState(const SnapshotDiff& d, bool exact) {
  ASSERT_TRUE(d.error.empty()) << d.error;
  std::cout << "  " << d << "\n";
  EXPECT_GT(d.elements, 0);
  EXPECT_TRUE(d.unmatched.empty()) << d;
  if (exact) {
    EXPECT_EQ(d.differing, 0) << d;
  } else {
    EXPECT_LE(d.differing, d.elements / 10000) << d;
    EXPECT_LT(d.max_relative, 1e-3) << d;
  }
}

class WorldInvariantTest : public PoolTest {
 protected:
  // The options every run shares: `batch` in chunks of `batch_gpu`.
  std::string Options(int batch, int batch_gpu, int iterations) const {
    return absl::StrCat(
        " --data ", data_,
        " --cfg fastgan_lite --res 32 --ngf 8 --batch ", batch,
        " --batch-gpu ", batch_gpu, " --kimg ", iterations * batch / 1000.0,
        " --tick ", 10 * batch / 1000.0,
        " --snap 1 --grid 2x1 --device cpu --threads 1 --workers 1");
  }

  // `pgan train` of those options on `ranks` processes (1: no mpirun) into
  // outdir `name`; returns its last snapshot.
  std::string Train(const std::string& name, int ranks, int batch,
                    int batch_gpu = 1, const std::string& mode = "on",
                    int iterations = kIterations) {
    const std::string outdir = dir_.file(name);
    // Root may run mpirun in containers and CI only with these flags.
    const std::string launcher =
        ranks == 1 ? std::string()
                   : absl::StrCat(PGAN_MPIEXEC,
                                  " --allow-run-as-root --oversubscribe -np ",
                                  ranks, " ");
    const std::string command =
        absl::StrCat(launcher, PGAN_BINARY, " train --outdir ", outdir,
                     Options(batch, batch_gpu, iterations), " --world-invariant ", mode);
    const auto result = RunCommand(command);
    EXPECT_EQ(result.exit_code, 0) << command << "\n" << result.output;
    return LatestSnapshot(outdir);
  }

  // A pool job of the same options on `workers` workers; returns its id.
  std::string SubmitJob(int workers, int batch, bool elastic) {
    const std::string spec = dir_.file("invariant_job.json");
    EXPECT_TRUE(
        WriteFileAtomically(
            spec,
            absl::StrCat(
                R"({"name": "invariant", "resources": {"workers": )", workers,
                R"(}, "elastic": )", elastic ? "true" : "false",
                R"(, "training": {"model": {"cfg": "fastgan_lite",)",
                R"( "resolution": 32, "ngf": 8}, "data": ")", data_,
                R"(", "batch": )", batch, R"(, "batch_gpu": 1, "kimg": )",
                kIterations * batch / 1000.0, R"(, "tick": )",
                2 * batch / 1000.0, R"(, "snap": 1, "threads": 1,)",
                elastic ? "" : R"( "world_invariant": "on",)",
                R"( "grid_width": 2, "grid_height": 1}})"))
            .ok());
    auto submitted = Pgan("submit " + spec);
    EXPECT_EQ(submitted.exit_code, 0) << submitted.output;
    return submitted.output.substr(10, 20);
  }
};

TEST_F(WorldInvariantTest, TwoRanksEndWhereTwoRoundsDo) {
  const std::string one = Train("rounds2", 1, 2);
  const std::string two = Train("ranks2", 2, 2);
  std::cout << "1 process x 2 rounds vs 2 ranks, " << kIterations
            << " iterations:\n";
  ExpectSameState(DiffSnapshots(one, two), /*exact=*/true);

  // The reference's mode on the same split does not (the check that the
  // runs above really differ in their split).
  // Five iterations are enough for most of G's weights to part.
  const std::string one_ref = Train("rounds2_reference", 1, 2, 1, "off", 5);
  const std::string two_ref = Train("ranks2_reference", 2, 2, 1, "off", 5);
  SnapshotDiff reference = DiffSnapshots(one_ref, two_ref);
  std::cout << "the same with --world-invariant off, 5 iterations:\n  "
            << reference << "\n";
  EXPECT_GT(reference.differing_by_net["G"],
            reference.elements_by_net["G"] / 2)
      << reference;

  // A snapshot records its mode: resuming it in the other is refused.
  const auto refused = RunCommand(absl::StrCat(
      PGAN_BINARY, " train --outdir ", dir_.file("rounds2"),
      " --resume latest --world-invariant off --kimg 1"));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(
      refused.output,
      "--world-invariant: cannot change on resume (the snapshot's value, on"))
      << refused.output;
}

TEST_F(WorldInvariantTest, FourRanksEndWhereFourRoundsAndTwoByTwoDo) {
  const std::string rounds = Train("rounds4", 1, 4);
  const std::string ranks = Train("ranks4", 4, 4);
  const std::string mixed = Train("ranks2_rounds2", 2, 4);
  std::cout << "1 process x 4 rounds vs 4 ranks, " << kIterations
            << " iterations:\n";
  ExpectSameState(DiffSnapshots(rounds, ranks), /*exact=*/false);
  std::cout << "1 process x 4 rounds vs 2 ranks x 2 rounds:\n";
  ExpectSameState(DiffSnapshots(rounds, mixed), /*exact=*/false);
}

TEST_F(WorldInvariantTest, APoolGangOfTwoGlooWorkersEndsWhereOneProcessDoes) {
  StartWorker();
  StartWorker();
  const std::string id = SubmitJob(2, 2, /*elastic=*/false);
  const std::string alone = Train("alone", 1, 2);
  auto watched = Pgan("watch " + id);
  ASSERT_EQ(State(id), "succeeded") << watched.output;
  auto status = Pgan("status " + id);
  EXPECT_TRUE(absl::StrContains(status.output, "invariant  on"))
      << status.output;
  std::cout << "1 process x 2 rounds vs a Gloo gang of 2:\n";
  ExpectSameState(DiffSnapshots(alone, LatestSnapshot(dir_.file("storage/" + id))),
                  /*exact=*/true);
}

// An elastic job is world-invariant by default: when a worker dies and the
// job restarts from its latest snapshot on the one left, it continues the
// trajectory of an uninterrupted run.
TEST_F(WorldInvariantTest, AnElasticJobRestartedOnFewerWorkersStaysOnCourse) {
  StartWorker();
  StartWorker();
  const std::string id = SubmitJob(2, 2, /*elastic=*/true);
  auto status = Pgan("status " + id);
  EXPECT_TRUE(absl::StrContains(status.output, "invariant  on"))
      << status.output;
  ASSERT_TRUE(WaitFor(std::chrono::seconds(300), [&] {
    for (const auto& s : RecordedSnapshots(id)) {
      if (s.kimg() > 0) return true;
    }
    return false;
  })) << "no snapshot after the first tick";
  int victim = -1;
  for (int n = 1; n >= 0 && victim < 0; --n) {
    if (absl::StrContains(ReadFile(WorkerLog(n)).value_or(""), "assigned job")) {
      victim = n;
    }
  }
  ASSERT_GE(victim, 0);
  ::kill(workers_[victim], SIGKILL);
  ::waitpid(workers_[victim], nullptr, 0);
  workers_[victim] = -1;
  const std::string alone = Train("uninterrupted", 1, 2);
  auto watched = Pgan("watch " + id);
  ASSERT_EQ(State(id), "succeeded") << watched.output;
  EXPECT_GE(Generation(id), 2) << "the job did not restart";
  const std::string survivor = ReadFile(WorkerLog(1 - victim)).value_or("");
  EXPECT_TRUE(absl::StrContains(survivor, "(1 workers, resuming"))
      << survivor;
  std::cout << "uninterrupted vs restarted on 1 worker:\n";
  ExpectSameState(DiffSnapshots(alone, LatestSnapshot(dir_.file("storage/" + id))),
                  /*exact=*/true);
}

}  // namespace
}  // namespace pgan::services
