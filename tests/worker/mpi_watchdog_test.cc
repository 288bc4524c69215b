// The MPI watchdog end to end: launches `mpirun -np 2 mpi_comm_job MODE 3`
// (a 3 s collective timeout) and checks that a rank that stops or dies ends
// the whole job, non-zero, within seconds (far below the 60 s the stopped
// rank sleeps), with a message naming the missing rank.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "tests/common/subprocess.h"
#include "worker/communicator.h"

namespace pgan::comm {
namespace {

constexpr double kTimeoutSeconds = 3.0;
// The job must be gone well before the stopped rank would wake up (60 s).
constexpr double kMaxSeconds = 25.0;

struct JobResult {
  int exit_code = -1;
  std::string output;
  double seconds = 0.0;
};

JobResult RunJob(const std::string& mode) {
  // `timeout` only guards this test against a watchdog that does not work.
  const std::string command = std::string("timeout -k 5 100 ") + PGAN_MPIEXEC +
                              " --allow-run-as-root --oversubscribe -np 2 " +
                              PGAN_COMM_JOB + " " + mode + " " +
                              std::to_string(kTimeoutSeconds);
  const auto start = std::chrono::steady_clock::now();
  testing::CommandResult result = testing::RunCommand(command);
  JobResult job;
  job.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  job.exit_code = result.exit_code;
  job.output = std::move(result.output);
  std::printf("mode %s: exit %d after %.2f s\n", mode.c_str(), job.exit_code,
              job.seconds);
  ::testing::Test::RecordProperty("seconds_to_exit",
                                  std::to_string(job.seconds));
  return job;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(MpiWatchdogTest, HealthyJobSucceeds) {
  const JobResult job = RunJob("ok");
  EXPECT_EQ(job.exit_code, 0) << job.output;
  EXPECT_TRUE(Contains(job.output, "[job rank 1] finished")) << job.output;
}

TEST(MpiWatchdogTest, StoppedRankIsNamedAndTheJobAborted) {
  const JobResult job = RunJob("stop");
  EXPECT_EQ(job.exit_code, kWatchdogExitCode) << job.output;
  // Not before the timeout, and long before rank 1 would wake up.
  EXPECT_GE(job.seconds, kTimeoutSeconds) << job.output;
  EXPECT_LT(job.seconds, kMaxSeconds) << job.output;
  EXPECT_TRUE(Contains(job.output, "[pgan rank 0] aborting: watchdog: rank 1 "))
      << job.output;
  EXPECT_TRUE(Contains(job.output,
                       "did not reach collective #4 (AllReduceSum) within "
                       "3 s; aborting the job"))
      << job.output;
}

TEST(MpiWatchdogTest, KilledRankEndsTheJob) {
  const JobResult job = RunJob("kill");
  EXPECT_NE(job.exit_code, 0) << job.output;
  EXPECT_LT(job.seconds, kMaxSeconds) << job.output;
  EXPECT_FALSE(Contains(job.output, "[job rank 0] finished")) << job.output;
}

TEST(MpiWatchdogTest, StoppedRootIsNamedByTheOtherRanks) {
  const JobResult job = RunJob("stop-root");
  EXPECT_EQ(job.exit_code, kWatchdogExitCode) << job.output;
  EXPECT_LT(job.seconds, kMaxSeconds) << job.output;
  EXPECT_TRUE(Contains(job.output, "[pgan rank 1] aborting: watchdog: rank 0 "))
      << job.output;
  EXPECT_TRUE(Contains(job.output, "did not release collective #4"))
      << job.output;
}

TEST(MpiWatchdogTest, DifferentCollectivesAreReportedAtOnce) {
  const JobResult job = RunJob("mismatch");
  EXPECT_EQ(job.exit_code, kWatchdogExitCode) << job.output;
  // Found when rank 1's arrival comes in, not by the timeout.
  EXPECT_FALSE(Contains(job.output, "did not reach")) << job.output;
  EXPECT_TRUE(Contains(job.output,
                       "collective #4 does not match across ranks: rank 0 "
                       "called AllReduceSum of 1000 floats, rank 1"))
      << job.output;
  EXPECT_TRUE(Contains(job.output, "called Broadcast of 64 bytes from rank 0"))
      << job.output;
}

}  // namespace
}  // namespace pgan::comm
