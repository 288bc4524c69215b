// The coordinator's durable state in one SQLite database (WAL journal):
// jobs, their tick history and snapshots, and the workers it has seen.
// Jobs are stored as their pgan.v1.Job message plus the columns queries
// need (owner, state, submission order). With WAL and synchronous=NORMAL a
// committed write survives the coordinator being killed (SIGKILL); only a
// crash of the machine itself may lose the last transactions.
// Every committed change of a job is published to the change feed, if one
// is set, in commit order. Thread-safe: one connection behind a mutex.
#ifndef PGAN_SERVICES_STATE_STORE_H_
#define PGAN_SERVICES_STATE_STORE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pgan/v1/job.pb.h"
#include "pgan/v1/worker.pb.h"
#include "services/change_feed.h"

struct sqlite3;

namespace pgan::services {

struct JobQuery {
  std::string owner;                       // Empty: every owner.
  std::vector<pgan::v1::JobState> states;  // Empty: every state.
  int64_t after_sequence = 0;              // Pagination: jobs submitted later.
  int limit = 100;
};

struct StoredJob {
  pgan::v1::Job job;
  int64_t sequence = 0;  // Submission order, from 1.
};

struct WorkerRecord {
  std::string id;
  pgan::v1::WorkerInfo info;
  std::string job_id;  // Empty when idle.
  int64_t generation = 0;
  int64_t last_seen_unix_ms = 0;
};

class StateStore {
 public:
  // Opens (creating if needed) the database at `path`; errors name it.
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(
      const std::string& path);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Publishes every committed change of a job here from now on (not
  // owned; null: none). Set it before the store is shared.
  void set_feed(ChangeFeed* feed) { feed_ = feed; }

  // ALREADY_EXISTS if the id is taken. Returns the submission sequence.
  absl::StatusOr<int64_t> InsertJob(const pgan::v1::Job& job);
  // NOT_FOUND naming the id.
  absl::StatusOr<StoredJob> GetJob(const std::string& id);
  // Replaces the stored job with the same id (NOT_FOUND if none). A change
  // of its state is recorded in its history, in the same transaction.
  absl::Status UpdateJob(const pgan::v1::Job& job);
  // The job's state changes, oldest first (its submission is the first).
  absl::StatusOr<std::vector<pgan::v1::JobTransition>> History(
      const std::string& job_id);
  // In submission order.
  absl::StatusOr<std::vector<StoredJob>> ListJobs(const JobQuery& query);

  // Tick history; a tick recorded again (after a restart) replaces the old.
  absl::Status RecordTick(const std::string& job_id,
                          const pgan::v1::TickRecord& tick);
  absl::StatusOr<std::vector<pgan::v1::TickRecord>> Ticks(
      const std::string& job_id);

  // Snapshot records, by job and path (a path recorded again replaces).
  absl::Status RecordSnapshot(const pgan::v1::Snapshot& snapshot);
  absl::StatusOr<std::vector<pgan::v1::Snapshot>> Snapshots(
      const std::string& job_id);

  absl::Status UpsertWorker(const WorkerRecord& worker);
  absl::StatusOr<std::vector<WorkerRecord>> ListWorkers();

  // The readiness check: the database can be read and its write lock taken
  // within `timeout` (nothing is written). UNAVAILABLE naming the file and
  // SQLite's reason otherwise (a lock held elsewhere, a vanished or
  // read-only file, a full disk at open).
  absl::Status CheckHealth(absl::Duration timeout);

 private:
  StateStore(sqlite3* db, std::string path);
  absl::Status Exec(const char* sql);
  absl::Status Error(const std::string& what) const;
  // Under mu_: appends the job's present state to its history.
  absl::Status RecordTransitionLocked(const pgan::v1::Job& job);
  // Under mu_: the owner of job `id` ("" when there is none).
  std::string OwnerLocked(const std::string& id);
  // Under mu_, after a commit.
  void PublishLocked(const std::string& owner, const std::string& job_id,
                     pgan::v1::JobEvent event);
  // The job as it now is.
  void PublishJobLocked(const pgan::v1::Job& job);

  std::mutex mu_;
  sqlite3* db_;
  const std::string path_;
  ChangeFeed* feed_ = nullptr;
};

}  // namespace pgan::services

#endif  // PGAN_SERVICES_STATE_STORE_H_
