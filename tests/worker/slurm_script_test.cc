// deploy/slurm/pgan.sbatch, run as Slurm would run it, on one machine: the
// script under bash with the variables Slurm sets, real mpirun and
// pgan-worker (2 ranks), and a stand-in `scontrol` that records its
// arguments (there is no Slurm here). Slurm's wall-time warning is the
// SIGUSR1 that `#SBATCH --signal=B:USR1@...` sends the batch shell alone.
//
// The first start is stopped by the warning after its first snapshot: it
// must snapshot, exit 0 and ask for `scontrol requeue JOBID`. The re-queued
// start must resume from that snapshot in the same run directory and train
// to the end without asking again.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/common/subprocess.h"
#include "tests/common/test_dir.h"
#include "tests/trainer/random_images.h"
#include "trainer/run_dir.h"

namespace pgan {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::TestDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class SlurmScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string data = dir_.file("data");
    ASSERT_TRUE(testing::WriteRandomImageFolder(data, 8, 32, /*seed=*/5).ok());
    outdir_ = dir_.file("runs");
    // 8 iterations of 4 images; a tick and a snapshot every 2.
    job_ = dir_.file("job.json");
    std::ofstream(job_) << R"({"cfg": "fastgan_lite", "res": 32, "ngf": 8,)"
                        << R"( "data": ")" << data << R"(", "outdir": ")"
                        << outdir_ << R"(", "batch": 4, "batch_gpu": 2,)"
                        << R"( "kimg": 0.032, "tick": 0.008, "snap": 1,)"
                        << R"( "threads": 1, "device": "cpu"})";
    // The stand-in scontrol appends its arguments to a file.
    bin_ = dir_.file("bin");
    fs::create_directories(bin_);
    scontrol_log_ = dir_.file("scontrol.log");
    const std::string scontrol = bin_ + "/scontrol";
    std::ofstream(scontrol)
        << "#!/bin/sh\necho \"$@\" >> " << scontrol_log_ << "\n";
    fs::permissions(scontrol, fs::perms::owner_all);
  }

  // Starts the script as Slurm's batch step would (restart `restart`),
  // its output in `log`.
  pid_t Start(int restart, const std::string& log) {
    return testing::Spawn(
        {"/bin/bash", PGAN_SBATCH_SCRIPT}, log,
        {absl::StrCat("PATH=", bin_, ":", std::getenv("PATH")),
         "PGAN_JOB=" + job_, std::string("PGAN_WORKER=") + PGAN_WORKER_BINARY,
         "SLURM_JOB_ID=4242", "SLURM_NTASKS=2",
         absl::StrCat("SLURM_RESTART_COUNT=", restart),
         // Root may run mpirun in containers and CI only with these; and
         // mpirun must not look for a Slurm allocation that is not there.
         "MPIRUN_ARGS=--allow-run-as-root --oversubscribe",
         "OMPI_MCA_ras=^slurm", "OMPI_MCA_plm=^slurm", "OMPI_MCA_ess=^slurm",
         "PGAN_COORDINATOR="});
  }

  static int Wait(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  TestDir dir_;
  std::string outdir_, job_, bin_, scontrol_log_;
};

TEST_F(SlurmScriptTest,
       WallTimeWarningSnapshotsRequeuesAndTheNextStartResumes) {
  // Start 1: the warning arrives once the first snapshot is written.
  const std::string log1 = dir_.file("start1.log");
  const pid_t first = Start(0, log1);
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::minutes(5);
  std::vector<trainer::SnapshotFile> snapshots;
  std::string run_dir;
  while (std::chrono::steady_clock::now() < give_up && snapshots.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(outdir_, ec)) {
      run_dir = entry.path().string();
      snapshots = trainer::ListSnapshots(run_dir);
    }
    int status = 0;
    ASSERT_EQ(waitpid(first, &status, WNOHANG), 0)
        << "the script ended before its first snapshot:\n"
        << ReadFile(log1);
  }
  ASSERT_FALSE(snapshots.empty()) << ReadFile(log1);
  ASSERT_EQ(kill(first, SIGUSR1), 0);
  ASSERT_EQ(Wait(first), 0) << ReadFile(log1);
  const std::string out1 = ReadFile(log1);
  EXPECT_TRUE(absl::StrContains(out1, "re-queueing job 4242")) << out1;
  EXPECT_EQ(ReadFile(scontrol_log_), "requeue 4242\n") << out1;
  // Stopped early, with a snapshot of where it stopped.
  const auto after_stop = trainer::ListSnapshots(run_dir);
  ASSERT_FALSE(after_stop.empty());
  const std::string stats = ReadFile(run_dir + "/stats.jsonl");
  EXPECT_FALSE(absl::StrContains(stats, R"("kimg":0.032)")) << stats;
  const std::string stopped_at = ReadFile(run_dir + "/log.txt");

  // Start 2 (re-queued): resumes in the same run directory and finishes.
  const std::string log2 = dir_.file("start2.log");
  ASSERT_EQ(Wait(Start(1, log2)), 0) << ReadFile(log2);
  const std::string out2 = ReadFile(log2);
  EXPECT_TRUE(absl::StrContains(out2, "start 2")) << out2;
  EXPECT_TRUE(absl::StrContains(out2, "Resuming at kimg")) << out2;
  EXPECT_EQ(ReadFile(scontrol_log_), "requeue 4242\n")
      << "a finished job asked to be re-queued:\n"
      << out2;
  int run_dirs = 0;
  for (const auto& entry : fs::directory_iterator(outdir_)) {
    run_dirs += entry.is_directory() ? 1 : 0;
  }
  EXPECT_EQ(run_dirs, 1);
  const auto final_snapshots = trainer::ListSnapshots(run_dir);
  ASSERT_FALSE(final_snapshots.empty());
  EXPECT_GT(fs::file_size(run_dir + "/log.txt"), stopped_at.size());
  const std::string final_stats = ReadFile(run_dir + "/stats.jsonl");
  EXPECT_TRUE(absl::StrContains(final_stats, R"("kimg":0.032)")) << final_stats;
}

}  // namespace
}  // namespace pgan
