// The whole service with real processes on 127.0.0.1: pgan-coordinator,
// pool workers (`pgan-worker --coordinator`, each running its tasks as
// child processes that form a Gloo gang through the coordinator), and the
// `pgan` client commands. A small job runs to completion; a worker killed
// mid-run makes the job restart from its latest snapshot on the workers
// left; a coordinator killed mid-run and started again finds the job still
// training and its history intact, and one down while the tasks end still
// ends the job. HostsPoolTest puts the coordinator and each worker on a
// host of its own (network namespaces, tests/common/test_hosts.h; skipped
// without root): a gang across hosts, and a host cut off and healed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/file_util.h"
#include "common/image_io.h"
#include "proto/http_server.h"
#include "services/auth.h"
#include "services/state_store.h"
#include "tests/common/subprocess.h"
#include "tests/common/test_dir.h"
#include "tests/common/test_hosts.h"
#include "tests/services/pool_fixture.h"

namespace pgan::services {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::RunCommand;
using ::pgan::testing::Spawn;
using ::pgan::testing::TestDir;
using ::pgan::testing::WaitFor;

TEST_F(PoolTest, TwoWorkersRunAJobSubmittedAndWatchedThroughTheCli) {
  StartWorker();
  StartWorker();
  const std::string id = Submit(4);
  auto watched = Pgan("watch " + id);
  EXPECT_EQ(watched.exit_code, 0) << watched.output;
  EXPECT_NE(watched.output.find("succeeded"), std::string::npos)
      << watched.output;
  EXPECT_NE(watched.output.find("kimg     0.02 / 0.02"), std::string::npos)
      << watched.output;
  EXPECT_NE(watched.output.find("[####################] 100%"),
            std::string::npos)
      << watched.output;
  EXPECT_EQ(State(id), "succeeded");
  EXPECT_EQ(Generation(id), 1) << "no restarts";

  // Rank 0 wrote the run directory the coordinator named, and the
  // snapshots it recorded exist and can be downloaded.
  const std::string run_dir = dir_.file("storage/" + id);
  EXPECT_TRUE(fs::exists(run_dir + "/stats.jsonl"));
  const std::vector<pgan::v1::Snapshot> snapshots = RecordedSnapshots(id);
  ASSERT_FALSE(snapshots.empty());
  EXPECT_NEAR(snapshots.back().kimg(), 0.016, 1e-9);
  EXPECT_TRUE(fs::exists(snapshots.back().path()));
  const std::string download = dir_.file("final.safetensors");
  auto downloaded = Pgan("download " + id + " -o " + download);
  EXPECT_EQ(downloaded.exit_code, 0) << downloaded.output;
  EXPECT_EQ(fs::file_size(download), fs::file_size(snapshots.back().path()));
  // Both workers trained it: each one's task ran and exited cleanly.
  for (int n : {0, 1}) {
    const std::string log = ReadFile(WorkerLog(n)).value_or("");
    EXPECT_NE(log.find("generation 1 exited with code 0"), std::string::npos)
        << log;
  }
}

TEST_F(PoolTest, AKilledWorkerRestartsTheJobFromItsLatestSnapshot) {
  for (int i = 0; i < 3; ++i) StartWorker();  // One spare.
  const std::string id = Submit(6);
  // Wait for a snapshot with progress in it.
  ASSERT_TRUE(WaitFor(std::chrono::seconds(240), [&] {
    for (const auto& s : RecordedSnapshots(id)) {
      if (s.kimg() > 0) return true;
    }
    return false;
  })) << "no snapshot after the first tick";
  // Kill a worker of the gang (not the spare). The latest snapshot then is
  // what the job must resume from.
  int victim = -1;
  for (int n = 0; n < 3 && victim < 0; ++n) {
    if (ReadFile(WorkerLog(n)).value_or("").find("assigned job") !=
        std::string::npos) {
      victim = n;
    }
  }
  ASSERT_GE(victim, 0);
  const pgan::v1::Snapshot latest = RecordedSnapshots(id).back();
  const absl::Time killed = absl::Now();
  ::kill(workers_[victim], SIGKILL);
  ::waitpid(workers_[victim], nullptr, 0);
  workers_[victim] = -1;
  ASSERT_TRUE(
      WaitFor(std::chrono::seconds(20), [&] { return Generation(id) >= 2; }));
  const absl::Duration detected = absl::Now() - killed;
  EXPECT_LT(detected, absl::Seconds(15));
  std::cout << "gang restarted " << absl::FormatDuration(detected)
            << " after SIGKILL of worker " << victim << "\n";

  auto watched = Pgan("watch " + id);
  EXPECT_EQ(watched.exit_code, 0) << watched.output;
  EXPECT_EQ(State(id), "succeeded");
  auto status = Pgan("status " + id);
  EXPECT_NE(status.output.find("restarts   1"), std::string::npos)
      << status.output;
  // The new gang (the survivor and the spare) resumed from that snapshot,
  // and its first tick carries on from there: nothing lost beyond it.
  bool resumed = false;
  for (int n = 0; n < 3; ++n) {
    if (n == victim) continue;
    const std::string log = ReadFile(WorkerLog(n)).value_or("");
    resumed |= log.find("generation 2 (2 workers, resuming " + latest.path() +
                        ")") != std::string::npos;
  }
  EXPECT_TRUE(resumed) << "expected a resume of " << latest.path();
  double first_after = -1;
  for (const pgan::v1::TickRecord& t : RecordedTicks(id)) {
    if (t.timestamp() >
        absl::ToDoubleSeconds(killed - absl::UnixEpoch()) + 1.0) {
      first_after = t.kimg();
      break;
    }
  }
  EXPECT_GE(first_after, latest.kimg() - 1e-9);
  EXPECT_LE(first_after, latest.kimg() + 0.008 + 1e-9) << "one tick at most";
}

TEST_F(PoolTest, ACoordinatorKilledMidRunComesBackToTheJobAndItsHistory) {
  StartWorker();
  StartWorker();
  const std::string id = Submit(6);
  ASSERT_TRUE(WaitFor(std::chrono::seconds(240),
                      [&] { return !RecordedTicks(id).empty(); }));
  const size_t ticks_before = RecordedTicks(id).size();
  const size_t snapshots_before = RecordedSnapshots(id).size();
  const int port = port_;
  KillCoordinator();
  absl::SleepFor(absl::Seconds(3));  // The workers train on meanwhile.
  StartCoordinator(port);

  auto watched = Pgan("watch " + id);
  EXPECT_EQ(watched.exit_code, 0) << watched.output;
  EXPECT_EQ(State(id), "succeeded");
  EXPECT_EQ(Generation(id), 1) << "re-adopted, not restarted";
  const std::vector<pgan::v1::TickRecord> ticks = RecordedTicks(id);
  EXPECT_GT(ticks.size(), ticks_before);
  EXPECT_GE(RecordedSnapshots(id).size(), snapshots_before);
  // Every tick is there once, in order.
  for (size_t i = 0; i < ticks.size(); ++i)
    EXPECT_EQ(ticks[i].tick(), static_cast<int64_t>(i));
  EXPECT_NEAR(RecordedSnapshots(id).back().kimg(), 0.024, 1e-9);
}

// Issue 15's first failure: both tasks finish while the coordinator is
// down. Their agents keep the exits and send them once it is back; the job
// succeeds in its first generation, with every tick and snapshot.
TEST_F(PoolTest, TasksThatEndWhileTheCoordinatorIsDownEndTheirJob) {
  StartWorker();
  StartWorker();
  const std::string id = Submit(6);
  ASSERT_TRUE(WaitFor(std::chrono::seconds(240),
                      [&] { return !RecordedTicks(id).empty(); }));
  const int port = port_;
  KillCoordinator();
  const std::string ended =
      absl::StrCat("task ", id, " generation 1 exited with code 0");
  ASSERT_TRUE(WaitFor(std::chrono::seconds(240), [&] {
    for (int n : {0, 1}) {
      if (ReadFile(WorkerLog(n)).value_or("").find(ended) == std::string::npos)
        return false;
    }
    return true;
  })) << "the tasks must end without waiting for the coordinator";
  StartCoordinator(port);
  EXPECT_TRUE(WaitFor(std::chrono::seconds(120), [&] {
    return State(id) == "succeeded";
  })) << State(id);
  EXPECT_EQ(Generation(id), 1) << "re-adopted, not restarted";
  const std::vector<pgan::v1::TickRecord> ticks = RecordedTicks(id);
  ASSERT_FALSE(ticks.empty());
  for (size_t i = 0; i < ticks.size(); ++i)
    EXPECT_EQ(ticks[i].tick(), static_cast<int64_t>(i));
  EXPECT_NEAR(ticks.back().kimg(), 0.024, 1e-9);
  ASSERT_FALSE(RecordedSnapshots(id).empty());
  EXPECT_NEAR(RecordedSnapshots(id).back().kimg(), 0.024, 1e-9);
  const std::string log = ReadFile(dir_.file("coordinator.log")).value_or("");
  EXPECT_NE(log.find(absl::StrCat("job ", id, " succeeded at generation 1")),
            std::string::npos)
      << log;
}

TEST_F(HostsPoolTest, AGangAcrossTwoHostsTrainsAJob) {
  StartWorker(1);
  StartWorker(2);
  const std::string id = Submit(6);
  EXPECT_TRUE(WaitFor(std::chrono::seconds(240), [&] {
    return State(id) == "succeeded";
  })) << State(id);
  EXPECT_EQ(Generation(id), 1);
  // Each rank met the other at its own host's address.
  for (int n : {0, 1}) {
    const std::string log = ReadFile(WorkerLog(n)).value_or("");
    EXPECT_NE(log.find(absl::StrCat("registered with ", CoordinatorAddress(),
                                    " (", Address(n + 1))),
              std::string::npos)
        << log;
    EXPECT_NE(log.find(" of 2 of job " + id), std::string::npos) << log;
  }
  EXPECT_NEAR(RecordedSnapshots(id).back().kimg(), 0.024, 1e-9);
}

// A host cut off without a reset (its link down at the bridge: its packets
// vanish) and healed later. The coordinator names the worker lost after the
// heartbeat timeout and ends the gang; back, the worker registers again,
// its stale task is told to abort, and the job resumes from its latest
// snapshot at generation 2. Prints the times, for the fault figures.
TEST_F(HostsPoolTest, AHostCutOffAndHealedRejoinsAndItsJobResumes) {
  StartWorker(1);
  StartWorker(2);
  const std::string id = Submit(12);
  ASSERT_TRUE(WaitFor(std::chrono::seconds(240),
                      [&] { return !RecordedSnapshots(id).empty(); }));
  const double snapshot_kimg = RecordedSnapshots(id).back().kimg();
  const std::string lost = absl::StrCat(" on ", Address(2), " lost");
  const std::string log = dir_.file("coordinator.log");
  hosts_->CutLink(2);
  const absl::Time cut = absl::Now();
  ASSERT_TRUE(WaitFor(std::chrono::seconds(60), [&] {
    return ReadFile(log).value_or("").find(lost) != std::string::npos;
  }));
  const absl::Duration detected = absl::Now() - cut;
  absl::SleepFor(absl::Seconds(5));
  hosts_->HealLink(2);
  const absl::Time healed = absl::Now();
  ASSERT_TRUE(
      WaitFor(std::chrono::seconds(60), [&] { return Generation(id) >= 2; }));
  const absl::Duration resumed = absl::Now() - healed;
  EXPECT_TRUE(WaitFor(std::chrono::seconds(300), [&] {
    return State(id) == "succeeded";
  })) << State(id);
  const std::string text = ReadFile(log).value_or("");
  EXPECT_NE(text.find(absl::StrCat(" on ", Address(2), " rejoined")),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("generation 2 started on"), std::string::npos) << text;
  EXPECT_NEAR(RecordedSnapshots(id).back().kimg(), 0.048, 1e-9);
  std::cout << "link cut: lost after " << absl::FormatDuration(detected)
            << ", generation 2 " << absl::FormatDuration(resumed)
            << " after the heal, resumed from the snapshot at " << snapshot_kimg
            << " kimg\n";
}

// The probes of a Kubernetes deployment, on the real processes: a pool
// worker is ready once registered, and stays alive but not ready while its
// coordinator is gone; the coordinator is ready while it serves.
TEST_F(PoolTest, HealthEndpointsFollowRegistrationAndTheCoordinator) {
  const std::string log = WorkerLog(0);
  workers_.push_back(
      Spawn({PGAN_WORKER, "--coordinator", absl::StrCat("127.0.0.1:", port_),
             "--hostname", "127.0.0.1", "--cpu-slots", "1", "--health-listen",
             "127.0.0.1:0"},
            log, {"PGAN_TOKEN=worker-token"}));
  int health_port = 0;
  ASSERT_TRUE(WaitFor(std::chrono::seconds(20), [&] {
    const std::string text = ReadFile(log).value_or("");
    const size_t at = text.find("/readyz on port ");
    return at != std::string::npos &&
           absl::SimpleAtoi(text.substr(at + 16, text.find('\n', at) - at - 16),
                            &health_port);
  })) << ReadFile(log).value_or("");
  const auto get = [&](const std::string& path) {
    auto response = rpc::HttpGet(
        absl::StrCat("http://127.0.0.1:", health_port, path), absl::Seconds(5));
    return response.ok() ? response->status : -1;
  };
  EXPECT_TRUE(
      WaitFor(std::chrono::seconds(20), [&] { return get("/readyz") == 200; }));
  EXPECT_EQ(get("/healthz"), 200);
  EXPECT_EQ(get("/metrics"), 404);

  const std::string coordinator_log =
      ReadFile(dir_.file("coordinator.log")).value_or("");
  const size_t at = coordinator_log.find("/metrics on port ");
  ASSERT_NE(at, std::string::npos) << coordinator_log;
  const std::string coordinator_url = absl::StrCat(
      "http://127.0.0.1:", std::stoi(coordinator_log.substr(at + 17)),
      "/readyz");
  auto ready = rpc::HttpGet(coordinator_url, absl::Seconds(5));
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 200) << ready->body;

  KillCoordinator();
  EXPECT_TRUE(
      WaitFor(std::chrono::seconds(20), [&] { return get("/readyz") == 503; }));
  EXPECT_EQ(get("/healthz"), 200) << "a worker waiting for its coordinator "
                                     "must not be restarted";
  auto body =
      rpc::HttpGet(absl::StrCat("http://127.0.0.1:", health_port, "/readyz"),
                   absl::Seconds(5));
  ASSERT_TRUE(body.ok());
  EXPECT_NE(body->body.find(absl::StrCat("127.0.0.1:", port_)),
            std::string::npos)
      << body->body;
  StartCoordinator(port_);
  EXPECT_TRUE(
      WaitFor(std::chrono::seconds(30), [&] { return get("/readyz") == 200; }));
}

TEST_F(PoolTest, AMissingDatasetFailsTheJobAtOnceWithTheReason) {
  StartWorker();
  StartWorker();
  data_ = dir_.file("data/not-there.zip");  // Under the root, but absent.
  const std::string id = Submit(4);
  auto watched = Pgan("watch " + id);
  EXPECT_NE(watched.exit_code, 0) << watched.output;
  EXPECT_EQ(State(id), "failed");
  auto status = Pgan("status " + id);
  EXPECT_NE(status.output.find("not-there.zip"), std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("restarts   0"), std::string::npos)
      << "a retry cannot help: " << status.output;
}

// `mpirun -np 2 pgan-worker --job J --coordinator C`: rank 0 records the
// gang as a job of the token's user and reports it like a pool gang.
class AttachTest : public PoolTest {
 protected:
  std::string JobFile(double kimg) {
    const std::string path = dir_.file("mpi-job.json");
    EXPECT_TRUE(
        WriteFileAtomically(
            path, absl::StrCat(R"({"data": ")", data_, R"(", "outdir": ")",
                               dir_.file("storage/mpi"),
                               R"(", "cfg": "fastgan_lite", "res": 32,)",
                               R"( "ngf": 8, "batch": 4, "kimg": )", kimg,
                               R"(, "tick": 0.004, "snap": 1, "threads": 1,)",
                               R"( "grid_width": 2, "grid_height": 1})"))
            .ok());
    return path;
  }
  // Root may run mpirun in containers and CI only with these flags.
  std::string Mpirun(const std::string& token, const std::string& job) {
    return absl::StrCat(
        "PGAN_TOKEN=", token, " ", PGAN_MPIEXEC,
        " --allow-run-as-root --oversubscribe -x PGAN_TOKEN -np 2 ",
        PGAN_WORKER, " --job ", job, " --coordinator 127.0.0.1:", port_);
  }
  std::string OnlyJob() {
    auto jobs = Pgan("jobs --all");
    const size_t at = jobs.output.find("job-");
    return at == std::string::npos ? "" : jobs.output.substr(at, 20);
  }
};

TEST_F(AttachTest, AnMpirunGangReportsAsOneJobOfItsUser) {
  auto run = RunCommand(Mpirun("alice-token", JobFile(0.008)));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("Attached to"), std::string::npos) << run.output;
  const std::string id = OnlyJob();
  ASSERT_FALSE(id.empty());
  auto status = Pgan("status " + id);
  EXPECT_NE(status.output.find("owner alice"), std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("on 2 worker(s)"), std::string::npos)
      << status.output;
  EXPECT_EQ(State(id), "succeeded");
  EXPECT_EQ(RecordedTicks(id).size(), 2u);
  ASSERT_FALSE(RecordedSnapshots(id).empty());
  EXPECT_NEAR(RecordedSnapshots(id).back().kimg(), 0.008, 1e-9);

  // A token the coordinator does not know: the gang does not start.
  auto refused = RunCommand(Mpirun("nobody", JobFile(0.008)));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("attaching to the coordinator"),
            std::string::npos)
      << refused.output;
}

TEST_F(AttachTest, CancellingAnAttachedJobStopsTheGangWithASnapshot) {
  const pid_t mpirun =
      Spawn({"/bin/sh", "-c", Mpirun("alice-token", JobFile(1))},
            dir_.file("mpirun.log"));
  std::string id;
  ASSERT_TRUE(WaitFor(std::chrono::seconds(120), [&] {
    id = OnlyJob();
    return !id.empty() && !RecordedTicks(id).empty();
  }));
  auto cancelled = Pgan("cancel " + id);
  EXPECT_EQ(cancelled.exit_code, 0) << cancelled.output;
  int status = -1;
  ASSERT_TRUE(WaitFor(std::chrono::seconds(60), [&] {
    return ::waitpid(mpirun, &status, WNOHANG) == mpirun;
  })) << "the gang did not stop";
  const std::string log = ReadFile(dir_.file("mpirun.log")).value_or("");
  EXPECT_NE(log.find("The coordinator stops job " + id), std::string::npos)
      << log;
  EXPECT_EQ(State(id), "cancelled");
  EXPECT_FALSE(RecordedSnapshots(id).empty());
}

}  // namespace
}  // namespace pgan::services
