// The scheduler with simulated workers and an explicit clock: gang
// scheduling with reasons, assignment, rendezvous, heartbeat timeouts that
// restart the whole gang at a new generation, stale workers refused,
// restart budgets, priorities, success and cancellation, and the pool as
// ListWorkers shows it.
#include "services/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/common/test_dir.h"

namespace pgan::services {
namespace {

using ::pgan::testing::TestDir;
using pgan::v1::HeartbeatResponse;

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = StateStore::Open(dir_.file("state.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    options_.storage_dir = "/runs";
    options_.heartbeat_timeout = absl::Seconds(10);
    options_.rendezvous_timeout = absl::Seconds(5);
    options_.readopt_grace = absl::Seconds(10);
    options_.log = [this](const std::string& line) { log_.push_back(line); };
    scheduler_ = std::make_unique<Scheduler>(store_.get(), options_);
  }

  // The coordinator killed and started again: a new scheduler over the
  // same database, with none of the old one's memory.
  void Restart() {
    scheduler_ = std::make_unique<Scheduler>(store_.get(), options_);
  }

  absl::Status Exit(const std::string& worker, const std::string& job,
                    int64_t generation, int exit_code = 0) {
    pgan::v1::ReportExitRequest exit;
    exit.set_worker_id(worker);
    exit.set_job_id(job);
    exit.set_generation(generation);
    exit.set_exit_code(exit_code);
    exit.set_retryable(exit_code == 1);
    return scheduler_->ReportExit(exit, now_);
  }

  // The workers take their assignments of generation 1 and start their
  // tasks (their heartbeats name the job).
  void StartTasks(const std::string& job,
                  const std::vector<std::string>& workers) {
    for (const std::string& w : workers) {
      EXPECT_EQ(Beat(w).action(), HeartbeatResponse::ACTION_ASSIGN) << w;
    }
    for (const std::string& w : workers) Beat(w, job, 1);
  }

  // The log lines that contain `text`.
  int Logged(const std::string& text) const {
    return static_cast<int>(
        std::count_if(log_.begin(), log_.end(), [&](const std::string& line) {
          return line.find(text) != std::string::npos;
        }));
  }

  std::string Submit(const std::string& id, int workers, int priority = 0,
                     int max_restarts = -1) {
    pgan::v1::Job job;
    job.set_id(id);
    job.set_owner("alice");
    job.set_state(pgan::v1::JOB_STATE_QUEUED);
    job.mutable_spec()->mutable_resources()->set_workers(workers);
    job.mutable_spec()->set_priority(priority);
    if (max_restarts >= 0) job.mutable_spec()->set_max_restarts(max_restarts);
    job.mutable_spec()->mutable_training()->set_kimg(10);
    EXPECT_TRUE(store_->InsertJob(job).ok());
    EXPECT_TRUE(scheduler_->Schedule(now_).ok());
    return id;
  }

  std::string Register(const std::string& host) {
    pgan::v1::RegisterWorkerRequest request;
    request.mutable_info()->set_host(host);
    request.mutable_info()->set_cpu_slots(2);
    auto response = scheduler_->Register(request, now_);
    EXPECT_TRUE(response.ok()) << response.status();
    EXPECT_TRUE(scheduler_->Schedule(now_).ok());
    return response->worker_id();
  }

  // A known worker registering again (after its or the coordinator's
  // restart), naming the job and generation it runs, if any.
  absl::Status RegisterAgain(const std::string& worker, const std::string& host,
                             const std::string& job = "",
                             int64_t generation = 0) {
    pgan::v1::RegisterWorkerRequest again;
    again.set_worker_id(worker);
    again.set_job_id(job);
    again.set_generation(generation);
    again.mutable_info()->set_host(host);
    again.mutable_info()->set_cpu_slots(2);
    return scheduler_->Register(again, now_).status();
  }

  HeartbeatResponse Beat(const std::string& worker, const std::string& job = "",
                         int64_t generation = 0) {
    pgan::v1::HeartbeatRequest request;
    request.set_worker_id(worker);
    request.set_job_id(job);
    request.set_generation(generation);
    auto response = scheduler_->Heartbeat(request, now_);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HeartbeatResponse();
  }

  pgan::v1::Job Job(const std::string& id) { return store_->GetJob(id)->job; }

  TestDir dir_;
  SchedulerOptions options_;
  std::vector<std::string> log_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Scheduler> scheduler_;
  absl::Time now_ = absl::FromUnixSeconds(1000000);
};

TEST_F(SchedulerTest, AJobWaitsForItsWholeGangAndSaysWhy) {
  const std::string job = Submit("j", 2);
  EXPECT_EQ(Job(job).state(), pgan::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(Job(job).pending_reason(),
            "needs 2 workers with a CPU; 0 of the 0 idle workers match");
  const std::string a = Register("host-a");
  EXPECT_EQ(Job(job).pending_reason(),
            "needs 2 workers with a CPU; 1 of the 1 idle workers match");
  EXPECT_EQ(Beat(a).action(), HeartbeatResponse::ACTION_CONTINUE)
      << "no partial gangs";

  const std::string b = Register("host-b");
  const pgan::v1::Job running = Job(job);
  EXPECT_EQ(running.state(), pgan::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(running.generation(), 1);
  for (const std::string& w : {a, b}) {
    const HeartbeatResponse beat = Beat(w);
    ASSERT_EQ(beat.action(), HeartbeatResponse::ACTION_ASSIGN);
    EXPECT_EQ(beat.assignment().world_size(), 2);
    EXPECT_EQ(beat.assignment().generation(), 1);
    EXPECT_EQ(beat.assignment().run_dir(), "/runs/j");
    EXPECT_EQ(beat.assignment().resume_snapshot(), "");
    EXPECT_EQ(Beat(w, job, 1).action(), HeartbeatResponse::ACTION_CONTINUE);
  }
  EXPECT_EQ(scheduler_->idle_workers(), 0);
}

TEST_F(SchedulerTest, RendezvousGivesRanksAndEveryBootstrapInRankOrder) {
  const std::string job = Submit("j", 2);
  const std::string a = Register("host-a"), b = Register("host-b");
  pgan::v1::RendezvousResponse ra, rb;
  std::thread other([&] {
    pgan::v1::RendezvousRequest request;
    request.set_worker_id(b);
    request.set_job_id(job);
    request.set_generation(1);
    request.set_bootstrap("B");
    auto response = scheduler_->Rendezvous(request);
    ASSERT_TRUE(response.ok()) << response.status();
    rb = *response;
  });
  pgan::v1::RendezvousRequest request;
  request.set_worker_id(a);
  request.set_job_id(job);
  request.set_generation(1);
  request.set_bootstrap("A");
  auto response = scheduler_->Rendezvous(request);
  other.join();
  ASSERT_TRUE(response.ok()) << response.status();
  ra = *response;
  EXPECT_EQ(ra.world_size(), 2);
  EXPECT_NE(ra.rank(), rb.rank());
  ASSERT_EQ(ra.bootstrap_size(), 2);
  EXPECT_EQ(ra.bootstrap(ra.rank()), "A");
  EXPECT_EQ(rb.bootstrap(rb.rank()), "B");

  request.set_generation(7);  // Not this gang's generation.
  EXPECT_EQ(scheduler_->Rendezvous(request).status().code(),
            absl::StatusCode::kAborted);
}

TEST_F(SchedulerTest,
       ASilentWorkerRestartsTheGangAtANewGenerationFromTheLatestSnapshot) {
  const std::string job = Submit("j", 2);
  const std::string a = Register("host-a"), b = Register("host-b");
  Beat(a);
  Beat(b);
  pgan::v1::ReportSnapshotRequest snapshot;
  snapshot.set_worker_id(a);
  snapshot.set_job_id(job);
  snapshot.set_generation(1);
  snapshot.mutable_snapshot()->set_kimg(4);
  snapshot.mutable_snapshot()->set_path("/runs/j/snapshot-000004.safetensors");
  ASSERT_TRUE(scheduler_->ReportSnapshot(snapshot).ok());

  now_ += absl::Seconds(6);
  Beat(a, job, 1);  // b stays silent.
  now_ += absl::Seconds(6);
  ASSERT_TRUE(scheduler_->Tick(now_).ok());
  pgan::v1::Job restarting = Job(job);
  EXPECT_EQ(restarting.state(), pgan::v1::JOB_STATE_RESTARTING);
  EXPECT_EQ(restarting.restarts(), 1);
  EXPECT_NE(
      restarting.pending_reason().find(b + " on host-b sent no heartbeat"),
      std::string::npos)
      << restarting.pending_reason();
  const HeartbeatResponse abort = Beat(a, job, 1);
  EXPECT_EQ(abort.action(), HeartbeatResponse::ACTION_ABORT);
  EXPECT_NE(abort.reason().find("no heartbeat"), std::string::npos)
      << abort.reason();

  // The old generation is refused; the dead worker must register again.
  pgan::v1::ReportTickRequest tick;
  tick.set_worker_id(a);
  tick.set_job_id(job);
  tick.set_generation(1);
  EXPECT_EQ(scheduler_->ReportTick(tick).code(), absl::StatusCode::kAborted);
  pgan::v1::HeartbeatRequest dead;
  dead.set_worker_id(b);
  EXPECT_EQ(scheduler_->Heartbeat(dead, now_).status().code(),
            absl::StatusCode::kNotFound);

  // A new worker: generation 2 resumes from the snapshot.
  const std::string c = Register("host-c");
  EXPECT_EQ(Job(job).state(), pgan::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(Job(job).generation(), 2);
  for (const std::string& w : {a, c}) {
    const HeartbeatResponse beat = Beat(w);
    ASSERT_EQ(beat.action(), HeartbeatResponse::ACTION_ASSIGN) << w;
    EXPECT_EQ(beat.assignment().generation(), 2);
    EXPECT_EQ(beat.assignment().resume_snapshot(),
              "/runs/j/snapshot-000004.safetensors");
  }
}

TEST_F(SchedulerTest, FailuresThatRetryingCannotFixAndSpentBudgetsFailTheJob) {
  const std::string job = Submit("j", 1);
  const std::string a = Register("host-a");
  pgan::v1::ReportExitRequest exit;
  exit.set_worker_id(a);
  exit.set_job_id(job);
  exit.set_generation(1);
  exit.set_exit_code(2);
  exit.set_reason("data/x.zip: no such file");
  exit.set_retryable(false);
  ASSERT_TRUE(scheduler_->ReportExit(exit, now_).ok());
  EXPECT_EQ(Job(job).state(), pgan::v1::JOB_STATE_FAILED);
  EXPECT_NE(Job(job).failure_reason().find("data/x.zip: no such file"),
            std::string::npos);

  const std::string budget = Submit("k", 1, 0, /*max_restarts=*/0);
  EXPECT_EQ(Beat(a).action(),
            HeartbeatResponse::ACTION_ABORT);  // Now idle again.
  EXPECT_EQ(Beat(a).action(), HeartbeatResponse::ACTION_ASSIGN);
  exit.set_job_id(budget);
  exit.set_retryable(true);
  ASSERT_TRUE(scheduler_->ReportExit(exit, now_).ok());
  EXPECT_EQ(Job(budget).state(), pgan::v1::JOB_STATE_FAILED);
  EXPECT_EQ(Job(budget).failure_reason().rfind("restart budget (0) used up", 0),
            0u)
      << Job(budget).failure_reason();
}

TEST_F(SchedulerTest, PriorityThenAgeAndSuccessFreesTheWorkers) {
  const std::string low = Submit("low", 1, 0);
  const std::string high = Submit("high", 1, 50);
  const std::string a = Register("host-a");
  EXPECT_EQ(Job(high).state(), pgan::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(Job(low).state(), pgan::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(Job(low).pending_reason(),
            "needs 1 worker with a CPU; 0 of the 0 idle workers match");

  pgan::v1::ReportExitRequest done;
  done.set_worker_id(a);
  done.set_job_id(high);
  done.set_generation(1);
  ASSERT_TRUE(scheduler_->ReportExit(done, now_).ok());
  EXPECT_EQ(Job(high).state(), pgan::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(Job(low).state(), pgan::v1::JOB_STATE_RUNNING)
      << "the freed worker goes on";

  auto cancelled = scheduler_->Cancel(low, now_);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), pgan::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(Beat(a, low, 1).action(), HeartbeatResponse::ACTION_ABORT);
  EXPECT_EQ(scheduler_->Cancel(low, now_).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SchedulerTest,
       AfterACoordinatorRestartRunningWorkersAreAdoptedAndStaleOnesStopped) {
  const std::string job = Submit("j", 1);
  const std::string a = Register("host-a");
  Beat(a);
  // A new scheduler over the same store: its memory is empty.
  scheduler_ = std::make_unique<Scheduler>(store_.get(), SchedulerOptions{});
  ASSERT_TRUE(RegisterAgain(a, "host-a").ok());
  EXPECT_EQ(Beat(a, job, 1).action(), HeartbeatResponse::ACTION_CONTINUE);
  EXPECT_EQ(scheduler_->idle_workers(), 0) << "adopted into its running job";

  const std::string stale = Register("host-b");
  EXPECT_EQ(Beat(stale, job, 0).action(), HeartbeatResponse::ACTION_ABORT);
}

TEST_F(SchedulerTest, ListWorkersShowsIdleBusyAndLostWorkers) {
  const std::string a = Register("host-a");
  const std::string b = Register("host-b");
  const std::string job = Submit("j", 1);  // Takes host-a's worker.
  auto pool = scheduler_->ListWorkers(now_);
  ASSERT_EQ(pool.size(), 2u);
  EXPECT_EQ(pool[0].id(), std::min(a, b)) << "by id";
  for (const pgan::v1::WorkerStatus& w : pool) {
    EXPECT_EQ(w.host(), w.id() == a ? "host-a" : "host-b");
    EXPECT_EQ(w.cpu_slots(), 2);
    EXPECT_EQ(w.state(), w.id() == a ? pgan::v1::WORKER_STATE_BUSY
                                     : pgan::v1::WORKER_STATE_IDLE);
    EXPECT_EQ(w.job_id(), w.id() == a ? job : "");
    EXPECT_EQ(w.generation(), w.id() == a ? 1 : 0);
    EXPECT_EQ(w.seconds_since_heartbeat(), 0.0);
  }

  // a falls silent; b heartbeats, then takes over the restarted job.
  now_ += absl::Seconds(6);
  Beat(b);
  now_ += absl::Seconds(6);
  ASSERT_TRUE(scheduler_->Tick(now_).ok());
  for (const pgan::v1::WorkerStatus& w : scheduler_->ListWorkers(now_)) {
    if (w.id() == a) {
      EXPECT_EQ(w.state(), pgan::v1::WORKER_STATE_LOST);
      EXPECT_EQ(w.seconds_since_heartbeat(), 12.0);
      EXPECT_EQ(w.job_id(), "");
    } else {
      EXPECT_EQ(w.state(), pgan::v1::WORKER_STATE_BUSY);
      EXPECT_EQ(w.seconds_since_heartbeat(), 6.0);
      EXPECT_EQ(w.job_id(), job);
      EXPECT_EQ(w.generation(), 2);
    }
  }
  const Scheduler::WorkerCounts counts = scheduler_->worker_counts();
  EXPECT_EQ(counts.dead, 1);
  EXPECT_EQ(counts.busy, 1);
  EXPECT_EQ(counts.idle, 0);
}

namespace store_tests {

pgan::v1::StoreSetRequest Set(const std::string& worker, const std::string& job,
                              int64_t generation, const std::string& key,
                              const std::string& value) {
  pgan::v1::StoreSetRequest request;
  request.set_worker_id(worker);
  request.set_job_id(job);
  request.set_generation(generation);
  request.set_key(key);
  request.set_value(value);
  return request;
}

pgan::v1::StoreGetRequest Get(const std::string& worker, const std::string& job,
                              int64_t generation, const std::string& key,
                              int wait_ms) {
  pgan::v1::StoreGetRequest request;
  request.set_worker_id(worker);
  request.set_job_id(job);
  request.set_generation(generation);
  request.set_key(key);
  request.set_wait_ms(wait_ms);
  return request;
}

}  // namespace store_tests

TEST_F(SchedulerTest, TheGangStoreServesItsMembersOnlyAndWakesWaiters) {
  using store_tests::Get;
  using store_tests::Set;
  const std::string job = Submit("j", 2);
  const std::string a = Register("host-a"), b = Register("host-b");
  const std::string outsider = Register("host-c");

  // A waiting Get returns when a peer sets the key.
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_TRUE(scheduler_->StoreSet(Set(b, job, 1, "1", "addr-of-b")).ok());
  });
  auto got = scheduler_->StoreGet(Get(a, job, 1, "1", 5000));
  setter.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value(), "addr-of-b");

  EXPECT_EQ(scheduler_->StoreGet(Get(a, job, 1, "missing", 50)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(scheduler_->StoreGet(Get(outsider, job, 1, "1", 0)).status().code(),
            absl::StatusCode::kAborted)
      << "not a member";
  EXPECT_EQ(scheduler_->StoreSet(Set(a, job, 2, "k", "v")).code(),
            absl::StatusCode::kAborted)
      << "not this generation";
  EXPECT_EQ(scheduler_->StoreSet(Set(a, job, 1, "", "v")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      scheduler_->StoreSet(Set(a, job, 1, "k", std::string(65537, 'x'))).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(scheduler_->StoreGet(Get(a, job, 1, "1", 60001)).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status full;
  for (int i = 0; i < 200 && full.ok(); ++i) {
    full = scheduler_->StoreSet(Set(a, job, 1, absl::StrCat("key", i), "v"));
  }
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;

  // A failing gang wakes a waiter with ABORTED, and its store is gone.
  std::thread failer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    now_ += absl::Seconds(11);
    Beat(b, job, 1);  // b is alive; a is silent.
    EXPECT_TRUE(scheduler_->Tick(now_).ok());
  });
  auto waiting = scheduler_->StoreGet(Get(b, job, 1, "never", 5000));
  failer.join();
  EXPECT_EQ(waiting.status().code(), absl::StatusCode::kAborted)
      << waiting.status();
}

TEST_F(SchedulerTest, AJobSucceedsWhenEveryRankHasReportedSuccess) {
  const std::string job = Submit("j", 2);
  const std::string a = Register("host-a"), b = Register("host-b");
  Beat(a);
  Beat(b);
  pgan::v1::ReportExitRequest done;
  done.set_job_id(job);
  done.set_generation(1);
  done.set_worker_id(b);
  ASSERT_TRUE(scheduler_->ReportExit(done, now_).ok());
  EXPECT_EQ(Job(job).state(), pgan::v1::JOB_STATE_RUNNING)
      << "rank 0 may still be writing the final snapshot";
  pgan::v1::ReportSnapshotRequest last;
  last.set_worker_id(a);
  last.set_job_id(job);
  last.set_generation(1);
  last.mutable_snapshot()->set_kimg(10);
  last.mutable_snapshot()->set_path("/runs/j/snapshot-000010.safetensors");
  EXPECT_TRUE(scheduler_->ReportSnapshot(last).ok());
  done.set_worker_id(a);
  ASSERT_TRUE(scheduler_->ReportExit(done, now_).ok());
  EXPECT_EQ(Job(job).state(), pgan::v1::JOB_STATE_SUCCEEDED);
  // A task still exiting after its success is not told to abort.
  EXPECT_EQ(Beat(a, job, 1).action(), HeartbeatResponse::ACTION_CONTINUE);
  EXPECT_EQ(scheduler_->idle_workers(), 2);
}

TEST_F(SchedulerTest, AnElasticJobRestartsOnFewerWorkersWhereTheBatchSplits) {
  pgan::v1::Job elastic;
  elastic.set_id("e");
  elastic.set_owner("alice");
  elastic.set_state(pgan::v1::JOB_STATE_QUEUED);
  elastic.mutable_spec()->set_elastic(true);
  elastic.mutable_spec()->mutable_resources()->set_workers(4);
  elastic.mutable_spec()->mutable_training()->set_batch(12);
  elastic.mutable_spec()->mutable_training()->set_kimg(10);
  ASSERT_TRUE(store_->InsertJob(elastic).ok());
  std::vector<std::string> workers;
  for (const char* host : {"h1", "h2", "h3"}) workers.push_back(Register(host));
  EXPECT_EQ(Job("e").state(), pgan::v1::JOB_STATE_QUEUED)
      << "a fresh start waits for the whole gang";
  workers.push_back(Register("h4"));
  ASSERT_EQ(Job("e").state(), pgan::v1::JOB_STATE_RUNNING);
  for (const std::string& w : workers) Beat(w);

  // One worker dies: three remain, and 12 splits over 3.
  now_ += absl::Seconds(11);
  for (size_t i = 0; i + 1 < workers.size(); ++i) Beat(workers[i], "e", 1);
  ASSERT_TRUE(scheduler_->Tick(now_).ok());
  for (size_t i = 0; i + 1 < workers.size(); ++i) Beat(workers[i]);  // Abort.
  ASSERT_TRUE(scheduler_->Schedule(now_).ok());
  const pgan::v1::Job restarted = Job("e");
  EXPECT_EQ(restarted.state(), pgan::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(restarted.generation(), 2);
  const HeartbeatResponse beat = Beat(workers[0]);
  ASSERT_EQ(beat.action(), HeartbeatResponse::ACTION_ASSIGN);
  EXPECT_EQ(beat.assignment().world_size(), 3);
}

TEST_F(SchedulerTest, AWorkerThatLeavesIsForgottenAtOnceAndItsGangRestarts) {
  const std::string job = Submit("j", 2);
  const std::string a = Register("host-a"), b = Register("host-b");
  const std::string spare = Register("host-c");
  Beat(a);
  Beat(b);
  EXPECT_EQ(scheduler_->idle_workers(), 1);

  pgan::v1::HeartbeatRequest bye;
  bye.set_worker_id(spare);
  bye.set_leaving(true);
  ASSERT_TRUE(scheduler_->Heartbeat(bye, now_).ok());
  EXPECT_EQ(scheduler_->idle_workers(), 0) << "no timeout to wait for";
  EXPECT_EQ(scheduler_->Heartbeat(bye, now_).status().code(),
            absl::StatusCode::kNotFound);

  bye.set_worker_id(a);
  bye.set_job_id(job);
  bye.set_generation(1);
  ASSERT_TRUE(scheduler_->Heartbeat(bye, now_).ok());
  const pgan::v1::Job restarting = Job(job);
  EXPECT_EQ(restarting.state(), pgan::v1::JOB_STATE_RESTARTING);
  EXPECT_EQ(restarting.restarts(), 1);
  EXPECT_NE(restarting.pending_reason().find("left the pool"),
            std::string::npos)
      << restarting.pending_reason();
  EXPECT_EQ(Beat(b, job, 1).action(), HeartbeatResponse::ACTION_ABORT);
}

// Issue 15's first failure: both tasks ended while the coordinator was
// down. One exit was taken before the restart, the other arrives after it,
// before its worker is back in the gang: neither may be lost.
TEST_F(SchedulerTest, ExitsAroundACoordinatorRestartAreNotLost) {
  const std::string job = Submit("j", 2);
  const std::string a = Register("host-a"), b = Register("host-b");
  StartTasks(job, {a, b});
  ASSERT_TRUE(Exit(a, job, 1).ok());
  Restart();
  ASSERT_TRUE(Exit(b, job, 1).ok());
  EXPECT_EQ(Job(job).state(), pgan::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(Job(job).generation(), 1);
  EXPECT_EQ(Logged("job j succeeded at generation 1"), 1);
  // Sent again (the acknowledgement was lost): nothing changes.
  ASSERT_TRUE(Exit(b, job, 1).ok());
  EXPECT_EQ(Job(job).state(), pgan::v1::JOB_STATE_SUCCEEDED);
}

TEST_F(SchedulerTest, ARunningJobNoWorkerComesBackToRestartsFromItsSnapshot) {
  const std::string job = Submit("j", 2);
  const std::string a = Register("host-a"), b = Register("host-b");
  Beat(a);
  Beat(b);
  Beat(a, job, 1);
  pgan::v1::ReportSnapshotRequest snapshot;
  snapshot.set_worker_id(a);
  snapshot.set_job_id(job);
  snapshot.set_generation(1);
  snapshot.mutable_snapshot()->set_kimg(4);
  snapshot.mutable_snapshot()->set_path("/runs/j/snapshot-000004.safetensors");
  ASSERT_TRUE(scheduler_->ReportSnapshot(snapshot).ok());
  // The coordinator restarts; the workers come back without their tasks
  // (lost with them, their reports too).
  Restart();
  for (const std::string& w : {a, b}) {
    ASSERT_TRUE(RegisterAgain(w, "host").ok());
  }
  ASSERT_TRUE(scheduler_->Tick(now_).ok());
  now_ += absl::Seconds(6);
  Beat(a);
  Beat(b);
  ASSERT_TRUE(scheduler_->Tick(now_).ok());
  EXPECT_EQ(Job(job).state(), pgan::v1::JOB_STATE_RUNNING)
      << "the workers have the heartbeat timeout to come back";
  EXPECT_EQ(Job(job).generation(), 1);
  now_ += absl::Seconds(6);
  Beat(a);
  Beat(b);
  ASSERT_TRUE(scheduler_->Tick(now_).ok());
  const pgan::v1::Job restarted = Job(job);
  EXPECT_EQ(restarted.generation(), 2);
  EXPECT_EQ(restarted.restarts(), 1);
  EXPECT_EQ(Logged("job j generation 1 aborted (restart 1 of 5): no "
                   "unfinished task of generation 1 seen for 1"),
            1)
      << absl::StrJoin(log_, "\n");
  EXPECT_EQ(Logged("job j generation 2 started on"), 1);
  EXPECT_EQ(Logged("from snapshot /runs/j/snapshot-000004.safetensors"), 1);
  for (const std::string& w : {a, b}) {
    const HeartbeatResponse beat = Beat(w);
    ASSERT_EQ(beat.action(), HeartbeatResponse::ACTION_ASSIGN) << w;
    EXPECT_EQ(beat.assignment().resume_snapshot(),
              "/runs/j/snapshot-000004.safetensors");
  }
}

// The finished member is back (its exit was still on its way), the other
// one never: the job may not wait for it forever.
TEST_F(SchedulerTest, AGangWhoseUnfinishedMembersNeverComeBackRestarts) {
  const std::string job = Submit("j", 2);
  const std::string a = Register("host-a"), b = Register("host-b");
  StartTasks(job, {a, b});
  Restart();
  ASSERT_TRUE(RegisterAgain(a, "host-a", job, 1).ok());
  ASSERT_TRUE(Exit(a, job, 1).ok());
  ASSERT_TRUE(scheduler_->Tick(now_).ok());
  now_ += absl::Seconds(6);
  EXPECT_EQ(Beat(a).action(), HeartbeatResponse::ACTION_CONTINUE)
      << "finished: it waits for the rest of its gang";
  ASSERT_TRUE(scheduler_->Tick(now_).ok());
  EXPECT_EQ(Job(job).state(), pgan::v1::JOB_STATE_RUNNING);
  now_ += absl::Seconds(6);
  Beat(a);
  ASSERT_TRUE(scheduler_->Tick(now_).ok());
  const pgan::v1::Job restarting = Job(job);
  EXPECT_EQ(restarting.state(), pgan::v1::JOB_STATE_RESTARTING)
      << "waits for two workers";
  EXPECT_EQ(restarting.restarts(), 1);
  EXPECT_NE(restarting.pending_reason().find(
                "no unfinished task of generation 1 seen for 12s"),
            std::string::npos)
      << restarting.pending_reason();
}

TEST_F(SchedulerTest, AMemberWhoseTaskEndedUnreportedRestartsItsGang) {
  const std::string job = Submit("j", 2);
  const std::string a = Register("host-a"), b = Register("host-b");
  StartTasks(job, {a, b});
  EXPECT_EQ(Beat(a).action(), HeartbeatResponse::ACTION_ABORT)
      << "a heartbeats idle: its task is gone";
  const pgan::v1::Job restarting = Job(job);
  EXPECT_EQ(restarting.restarts(), 1);
  EXPECT_NE(restarting.pending_reason().find(
                a + " on host-a runs no task of generation 1"),
            std::string::npos)
      << restarting.pending_reason();
  EXPECT_EQ(Beat(b, job, 1).action(), HeartbeatResponse::ACTION_ABORT);
}

TEST_F(SchedulerTest, AnAssignmentWhoseResponseWasLostIsSentAgain) {
  const std::string job = Submit("j", 2);
  const std::string a = Register("host-a"), b = Register("host-b");
  ASSERT_EQ(Beat(a).action(), HeartbeatResponse::ACTION_ASSIGN);
  ASSERT_EQ(Beat(b).action(), HeartbeatResponse::ACTION_ASSIGN);
  Beat(b, job, 1);
  // a's response never arrived: it heartbeats idle and gets it again.
  const HeartbeatResponse again = Beat(a);
  ASSERT_EQ(again.action(), HeartbeatResponse::ACTION_ASSIGN);
  EXPECT_EQ(again.assignment().generation(), 1);
  EXPECT_EQ(Job(job).state(), pgan::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(Job(job).restarts(), 0);
  EXPECT_EQ(Beat(a, job, 1).action(), HeartbeatResponse::ACTION_CONTINUE);
}

TEST_F(SchedulerTest, TransitionsAndWorkersLostOrBackAreLoggedOneLineEach) {
  const std::string job = Submit("j", 1, 0, /*max_restarts=*/0);
  const std::string a = Register("host-a");
  Beat(a);
  Beat(a, job, 1);
  ASSERT_TRUE(Exit(a, job, 1, /*exit_code=*/2).ok());
  now_ += absl::Seconds(11);
  ASSERT_TRUE(scheduler_->Tick(now_).ok());
  ASSERT_TRUE(RegisterAgain(a, "host-a").ok());
  EXPECT_EQ(Logged(a + " on host-a joined (0 GPU, 2 cores)"), 1);
  EXPECT_EQ(Logged("job j generation 1 started on " + a + " from the start"),
            1);
  EXPECT_EQ(
      Logged("job j failed at generation 1: worker " + a + " exited with 2"),
      1);
  EXPECT_EQ(Logged(a + " on host-a lost (no heartbeat for 11s)"), 1);
  EXPECT_EQ(Logged(a + " on host-a rejoined"), 1);
  for (const std::string& line : log_) {
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  }
}

// A pool larger than the coordinator's heartbeat budget is told to beat
// less often, and is given as much longer before a worker counts as lost.
TEST_F(SchedulerTest, ALargePoolIsToldToBeatLessOftenAndWaitedForLonger) {
  options_.max_heartbeat_rate = 2;  // Heartbeats per second, the whole pool.
  Restart();
  const std::string a = Register("h1");
  EXPECT_EQ(Beat(a).heartbeat_interval_ms(), 1000) << "1 worker: the base";
  const std::string b = Register("h2");
  const std::string c = Register("h3");
  const std::string d = Register("h4");
  for (const std::string& w : {a, b, c, d}) {
    EXPECT_EQ(Beat(w).heartbeat_interval_ms(), 2000) << "4 workers at 2/s";
  }
  // Ten missed beats at 2 s: lost after 20 s of silence, not 10.
  now_ += absl::Seconds(15);
  Beat(a);
  Beat(b);
  Beat(c);
  ASSERT_TRUE(scheduler_->Tick(now_).ok());
  EXPECT_EQ(scheduler_->worker_counts().dead, 0);
  now_ += absl::Seconds(6);
  ASSERT_TRUE(scheduler_->Tick(now_).ok());
  EXPECT_EQ(scheduler_->worker_counts().dead, 1) << d << " silent for 21 s";
  EXPECT_EQ(Logged(d + " on h4 lost"), 1);
}

}  // namespace
}  // namespace pgan::services
