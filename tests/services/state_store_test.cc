// The coordinator's SQLite state: jobs, ticks, snapshots and workers round
// trip, survive reopening and the process being killed mid-run, and bad
// database files get clear errors.
#include "services/state_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "common/file_util.h"
#include "tests/common/test_dir.h"

namespace pgan::services {
namespace {

using ::pgan::testing::TestDir;

pgan::v1::Job MakeJob(const std::string& id, const std::string& owner,
                      pgan::v1::JobState state) {
  pgan::v1::Job job;
  job.set_id(id);
  job.set_owner(owner);
  job.set_state(state);
  job.mutable_spec()->set_name(id + "-name");
  job.mutable_spec()->mutable_training()->set_batch(64);
  return job;
}

TEST(StateStoreTest, JobsRoundTripAndListInSubmissionOrder) {
  TestDir dir;
  auto store = StateStore::Open(dir.file("state.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  StateStore& s = **store;
  ASSERT_TRUE(
      s.InsertJob(MakeJob("j1", "alice", pgan::v1::JOB_STATE_QUEUED)).ok());
  ASSERT_TRUE(
      s.InsertJob(MakeJob("j2", "bob", pgan::v1::JOB_STATE_RUNNING)).ok());
  ASSERT_TRUE(
      s.InsertJob(MakeJob("j3", "alice", pgan::v1::JOB_STATE_RUNNING)).ok());
  EXPECT_EQ(s.InsertJob(MakeJob("j1", "x", pgan::v1::JOB_STATE_QUEUED))
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);

  auto j2 = s.GetJob("j2");
  ASSERT_TRUE(j2.ok()) << j2.status();
  EXPECT_EQ(j2->job.owner(), "bob");
  EXPECT_EQ(j2->job.spec().name(), "j2-name");
  EXPECT_EQ(j2->sequence, 2);
  EXPECT_EQ(s.GetJob("nope").status().code(), absl::StatusCode::kNotFound);

  pgan::v1::Job updated = j2->job;
  updated.set_state(pgan::v1::JOB_STATE_FAILED);
  updated.set_failure_reason("dataset missing");
  ASSERT_TRUE(s.UpdateJob(updated).ok());
  EXPECT_EQ(s.GetJob("j2")->job.failure_reason(), "dataset missing");
  EXPECT_EQ(
      s.UpdateJob(MakeJob("nope", "x", pgan::v1::JOB_STATE_QUEUED)).code(),
      absl::StatusCode::kNotFound);

  JobQuery alice;
  alice.owner = "alice";
  auto jobs = s.ListJobs(alice);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].job.id(), "j1");
  EXPECT_EQ((*jobs)[1].job.id(), "j3");

  JobQuery running;
  running.states = {pgan::v1::JOB_STATE_RUNNING};
  jobs = s.ListJobs(running);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].job.id(), "j3");

  JobQuery page;
  page.limit = 2;
  jobs = s.ListJobs(page);
  ASSERT_EQ(jobs->size(), 2u);
  page.after_sequence = jobs->back().sequence;
  jobs = s.ListJobs(page);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].job.id(), "j3");
}

TEST(StateStoreTest, TicksSnapshotsAndWorkers) {
  TestDir dir;
  auto store = StateStore::Open(dir.file("state.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  StateStore& s = **store;
  for (int t : {2, 0, 1, 1}) {
    pgan::v1::TickRecord tick;
    tick.set_tick(t);
    tick.set_kimg(t * 4.0 + (t == 1 ? 0.5 : 0));
    ASSERT_TRUE(s.RecordTick("j1", tick).ok());
  }
  auto ticks = s.Ticks("j1");
  ASSERT_TRUE(ticks.ok());
  ASSERT_EQ(ticks->size(), 3u);  // Tick 1 recorded twice: replaced.
  EXPECT_EQ((*ticks)[1].tick(), 1);
  EXPECT_TRUE(s.Ticks("other")->empty());

  pgan::v1::Snapshot a, b;
  a.set_job_id("j1");
  a.set_kimg(200);
  a.set_path("/runs/j1/snapshot-000200.safetensors");
  b = a;
  b.set_kimg(100);
  b.set_path("/runs/j1/snapshot-000100.safetensors");
  ASSERT_TRUE(s.RecordSnapshot(a).ok());
  ASSERT_TRUE(s.RecordSnapshot(b).ok());
  auto snapshots = s.Snapshots("j1");
  ASSERT_EQ(snapshots->size(), 2u);
  EXPECT_EQ((*snapshots)[0].kimg(), 100);

  WorkerRecord w;
  w.id = "w1";
  w.info.set_host("node7");
  w.info.set_gpus(8);
  w.job_id = "j1";
  w.generation = 3;
  w.last_seen_unix_ms = 12345;
  ASSERT_TRUE(s.UpsertWorker(w).ok());
  w.generation = 4;
  ASSERT_TRUE(s.UpsertWorker(w).ok());
  auto workers = s.ListWorkers();
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ((*workers)[0].info.host(), "node7");
  EXPECT_EQ((*workers)[0].generation, 4);
}

// The coordinator's process dies (SIGKILL) right after a write: a new one
// finds everything committed.
TEST(StateStoreTest, CommittedWritesSurviveAKilledProcess) {
  TestDir dir;
  const std::string path = dir.file("state.db");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = StateStore::Open(path);
    if (!store.ok()) ::_exit(1);
    for (int i = 0; i < 50; ++i) {
      if (!(*store)
               ->InsertJob(MakeJob("job" + std::to_string(i), "alice",
                                   pgan::v1::JOB_STATE_QUEUED))
               .ok()) {
        ::_exit(2);
      }
    }
    ::raise(SIGKILL);  // No destructor, no checkpoint.
    ::_exit(3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  auto store = StateStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  JobQuery all;
  all.limit = 1000;
  auto jobs = (*store)->ListJobs(all);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ(jobs->size(), 50u);
  EXPECT_EQ((*store)->GetJob("job49")->job.owner(), "alice");
}

TEST(StateStoreTest, BadDatabaseFilesAreNamed) {
  TestDir dir;
  const std::string garbage = dir.file("garbage.db");
  ASSERT_TRUE(WriteFileAtomically(garbage, std::string(4096, 'x')).ok());
  auto store = StateStore::Open(garbage);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(garbage), std::string::npos)
      << store.status();
  auto missing = StateStore::Open(dir.file("no/such/dir/state.db"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no/such/dir/state.db"),
            std::string::npos)
      << missing.status();
}

}  // namespace
}  // namespace pgan::services
