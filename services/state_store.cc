#include "services/state_store.h"

#include <google/protobuf/util/time_util.h>
#include <sqlite3.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pgan::services {
namespace {

// Tables added later (job_history) are created when missing, which older
// coordinators ignore: the version changes only when one of them could not
// read the database any more.
constexpr int kSchemaVersion = 1;
// How long a statement waits for a lock another connection holds (the
// workers' reports come in bursts; WAL readers never wait).
constexpr int kBusyTimeoutMs = 5000;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  owner TEXT NOT NULL,
  state INTEGER NOT NULL,
  job BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, sequence);
CREATE TABLE IF NOT EXISTS ticks (
  job_id TEXT NOT NULL,
  tick INTEGER NOT NULL,
  record BLOB NOT NULL,
  PRIMARY KEY (job_id, tick)
);
CREATE TABLE IF NOT EXISTS snapshots (
  job_id TEXT NOT NULL,
  path TEXT NOT NULL,
  kimg REAL NOT NULL,
  record BLOB NOT NULL,
  PRIMARY KEY (job_id, path)
);
CREATE TABLE IF NOT EXISTS job_history (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL,
  record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS job_history_by_job ON job_history (job_id, sequence);
CREATE TABLE IF NOT EXISTS workers (
  id TEXT PRIMARY KEY,
  info BLOB NOT NULL,
  job_id TEXT NOT NULL,
  generation INTEGER NOT NULL,
  last_seen_unix_ms INTEGER NOT NULL
);
)sql";

// A prepared statement, finalised on destruction.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  Statement& Bind(int i, const std::string& text) {
    Keep(sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()),
                           SQLITE_TRANSIENT));
    return *this;
  }
  Statement& BindBlob(int i, const std::string& blob) {
    Keep(sqlite3_bind_blob(stmt_, i, blob.data(), static_cast<int>(blob.size()),
                           SQLITE_TRANSIENT));
    return *this;
  }
  Statement& Bind(int i, int64_t value) {
    Keep(sqlite3_bind_int64(stmt_, i, value));
    return *this;
  }
  Statement& Bind(int i, double value) {
    Keep(sqlite3_bind_double(stmt_, i, value));
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code (after a failed bind, that).
  int Step() {
    if (rc_ != SQLITE_OK) return rc_;
    return sqlite3_step(stmt_);
  }
  std::string Blob(int column) const {
    const void* data = sqlite3_column_blob(stmt_, column);
    return std::string(
        static_cast<const char*>(data),
        static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string Text(int column) const {
    const unsigned char* text = sqlite3_column_text(stmt_, column);
    return text == nullptr ? std::string()
                           : reinterpret_cast<const char*>(text);
  }

 private:
  void Keep(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
  }
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

// What a job's history records of its present state.
pgan::v1::JobTransition TransitionOf(const pgan::v1::Job& job) {
  pgan::v1::JobTransition t;
  *t.mutable_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
  t.set_state(job.state());
  t.set_generation(job.generation());
  t.set_restarts(job.restarts());
  t.set_world_size(job.world_size());
  t.set_reason(job.state() == pgan::v1::JOB_STATE_FAILED
                   ? job.failure_reason()
                   : job.pending_reason());
  return t;
}

template <typename Message>
absl::StatusOr<Message> Parse(const std::string& blob,
                              const std::string& what) {
  Message message;
  if (!message.ParseFromString(blob)) {
    return absl::DataLossError(absl::StrCat("state store: corrupt ", what));
  }
  return message;
}

}  // namespace

StateStore::StateStore(sqlite3* db, std::string path)
    : db_(db), path_(std::move(path)) {}

StateStore::~StateStore() { sqlite3_close(db_); }

absl::Status StateStore::Error(const std::string& what) const {
  return absl::InternalError(
      absl::StrCat(path_, ": ", what, ": ", sqlite3_errmsg(db_)));
}

absl::Status StateStore::Exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    return absl::InternalError(absl::StrCat(path_, ": ", text));
  }
  return absl::OkStatus();
}

absl::Status StateStore::CheckHealth(absl::Duration timeout) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite3_busy_timeout(db_,
                       static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  // BEGIN IMMEDIATE takes the write lock, as any update of a job would.
  absl::Status status = Exec("BEGIN IMMEDIATE");
  if (status.ok()) {
    status = Exec("SELECT count(*) FROM jobs");
    absl::Status ended = Exec("ROLLBACK");
    if (status.ok()) status = ended;
  }
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  if (status.ok()) return status;
  return absl::UnavailableError(
      absl::StrCat("state database ", status.message()));
}

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(
    const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  std::unique_ptr<StateStore> store(new StateStore(db, path));
  if (rc != SQLITE_OK) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open the state database ", path, ": ", sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // Reading the schema version is the first real access: a file that is not
  // a database fails here with a clear message. (In a block: a statement
  // alive holds a read transaction.)
  int64_t found = 0;
  {
    Statement version(db, "PRAGMA user_version");
    if (!version.ok() || version.Step() != SQLITE_ROW) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " is not a pgan state database: ", sqlite3_errmsg(db)));
    }
    found = version.Int(0);
  }
  if (found > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " has schema version ", found, "; this coordinator knows up to ",
        kSchemaVersion, ": use a newer pgan-coordinator"));
  }
  RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=NORMAL"));
  RETURN_IF_ERROR(store->Exec(kSchema));
  RETURN_IF_ERROR(store->Exec(
      absl::StrCat("PRAGMA user_version=", kSchemaVersion).c_str()));
  return store;
}

absl::Status StateStore::RecordTransitionLocked(const pgan::v1::Job& job) {
  Statement insert(db_,
                   "INSERT INTO job_history (job_id, record) VALUES (?, ?)");
  insert.Bind(1, job.id()).BindBlob(2, TransitionOf(job).SerializeAsString());
  if (insert.Step() != SQLITE_DONE) {
    return Error(absl::StrCat("recording the history of job ", job.id()));
  }
  return absl::OkStatus();
}

std::string StateStore::OwnerLocked(const std::string& id) {
  Statement select(db_, "SELECT owner FROM jobs WHERE id = ?");
  select.Bind(1, id);
  return select.Step() == SQLITE_ROW ? select.Text(0) : std::string();
}

void StateStore::PublishLocked(const std::string& owner,
                               const std::string& job_id,
                               pgan::v1::JobEvent event) {
  if (feed_ == nullptr) return;
  event.set_job_id(job_id);
  feed_->Publish(owner, job_id, std::move(event));
}

void StateStore::PublishJobLocked(const pgan::v1::Job& job) {
  if (feed_ == nullptr) return;
  pgan::v1::JobEvent event;
  *event.mutable_job() = job;
  PublishLocked(job.owner(), job.id(), std::move(event));
}

absl::StatusOr<int64_t> StateStore::InsertJob(const pgan::v1::Job& job) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Statement insert(
      db_, "INSERT INTO jobs (id, owner, state, job) VALUES (?, ?, ?, ?)");
  insert.Bind(1, job.id()).Bind(2, job.owner()).Bind(3, int64_t{job.state()});
  insert.BindBlob(4, job.SerializeAsString());
  const int rc = insert.Step();
  absl::Status status;
  if (rc == SQLITE_CONSTRAINT) {
    status =
        absl::AlreadyExistsError(absl::StrCat("job ", job.id(), " exists"));
  } else if (rc != SQLITE_DONE) {
    status = Error(absl::StrCat("inserting job ", job.id()));
  }
  const int64_t sequence = sqlite3_last_insert_rowid(db_);
  if (status.ok()) status = RecordTransitionLocked(job);
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok()) {
    (void)Exec("ROLLBACK");
    return status;
  }
  PublishJobLocked(job);
  return sequence;
}

absl::StatusOr<StoredJob> StateStore::GetJob(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement select(db_, "SELECT job, sequence FROM jobs WHERE id = ?");
  select.Bind(1, id);
  const int rc = select.Step();
  if (rc == SQLITE_DONE)
    return absl::NotFoundError(absl::StrCat("no job ", id));
  if (rc != SQLITE_ROW) return Error(absl::StrCat("reading job ", id));
  StoredJob stored;
  ASSIGN_OR_RETURN(stored.job,
                   Parse<pgan::v1::Job>(select.Blob(0), "job " + id));
  stored.sequence = select.Int(1);
  return stored;
}

absl::Status StateStore::UpdateJob(const pgan::v1::Job& job) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status status;
  {
    Statement select(db_, "SELECT state FROM jobs WHERE id = ?");
    select.Bind(1, job.id());
    const int rc = select.Step();
    if (rc == SQLITE_DONE) {
      status = absl::NotFoundError(absl::StrCat("no job ", job.id()));
    } else if (rc != SQLITE_ROW) {
      status = Error(absl::StrCat("reading job ", job.id()));
    } else if (select.Int(0) != int64_t{job.state()}) {
      status = RecordTransitionLocked(job);
    }
  }
  if (status.ok()) {
    Statement update(
        db_, "UPDATE jobs SET owner = ?, state = ?, job = ? WHERE id = ?");
    update.Bind(1, job.owner()).Bind(2, int64_t{job.state()});
    update.BindBlob(3, job.SerializeAsString()).Bind(4, job.id());
    if (update.Step() != SQLITE_DONE) {
      status = Error(absl::StrCat("updating job ", job.id()));
    }
  }
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok()) {
    (void)Exec("ROLLBACK");
    return status;
  }
  PublishJobLocked(job);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<pgan::v1::JobTransition>> StateStore::History(
    const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement select(db_,
                   "SELECT record FROM job_history WHERE job_id = ? "
                   "ORDER BY sequence");
  select.Bind(1, job_id);
  std::vector<pgan::v1::JobTransition> history;
  int rc = SQLITE_DONE;
  while ((rc = select.Step()) == SQLITE_ROW) {
    ASSIGN_OR_RETURN(pgan::v1::JobTransition t,
                     Parse<pgan::v1::JobTransition>(
                         select.Blob(0), "the history of " + job_id));
    history.push_back(std::move(t));
  }
  if (rc != SQLITE_DONE)
    return Error(absl::StrCat("reading the history of ", job_id));
  return history;
}

absl::StatusOr<std::vector<StoredJob>> StateStore::ListJobs(
    const JobQuery& query) {
  std::lock_guard<std::mutex> lock(mu_);
  // Few states: filter them here rather than building SQL.
  Statement select(
      db_,
      "SELECT job, sequence, state FROM jobs WHERE sequence > ? AND "
      "(? = '' OR owner = ?) ORDER BY sequence");
  select.Bind(1, query.after_sequence)
      .Bind(2, query.owner)
      .Bind(3, query.owner);
  std::vector<StoredJob> jobs;
  int rc = SQLITE_DONE;
  while (static_cast<int>(jobs.size()) < query.limit &&
         (rc = select.Step()) == SQLITE_ROW) {
    const auto state = static_cast<pgan::v1::JobState>(select.Int(2));
    if (!query.states.empty() &&
        std::find(query.states.begin(), query.states.end(), state) ==
            query.states.end()) {
      continue;
    }
    StoredJob stored;
    ASSIGN_OR_RETURN(stored.job, Parse<pgan::v1::Job>(select.Blob(0), "a job"));
    stored.sequence = select.Int(1);
    jobs.push_back(std::move(stored));
  }
  if (static_cast<int>(jobs.size()) < query.limit && rc != SQLITE_DONE) {
    return Error("listing jobs");
  }
  return jobs;
}

absl::Status StateStore::RecordTick(const std::string& job_id,
                                    const pgan::v1::TickRecord& tick) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement insert(
      db_,
      "INSERT OR REPLACE INTO ticks (job_id, tick, record) VALUES (?, ?, ?)");
  insert.Bind(1, job_id)
      .Bind(2, tick.tick())
      .BindBlob(3, tick.SerializeAsString());
  if (insert.Step() != SQLITE_DONE)
    return Error(absl::StrCat("recording a tick of ", job_id));
  if (feed_ != nullptr) {
    pgan::v1::JobEvent event;
    *event.mutable_tick() = tick;
    PublishLocked(OwnerLocked(job_id), job_id, std::move(event));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<pgan::v1::TickRecord>> StateStore::Ticks(
    const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement select(db_,
                   "SELECT record FROM ticks WHERE job_id = ? ORDER BY tick");
  select.Bind(1, job_id);
  std::vector<pgan::v1::TickRecord> ticks;
  int rc = SQLITE_DONE;
  while ((rc = select.Step()) == SQLITE_ROW) {
    ASSIGN_OR_RETURN(
        pgan::v1::TickRecord tick,
        Parse<pgan::v1::TickRecord>(select.Blob(0), "a tick of " + job_id));
    ticks.push_back(std::move(tick));
  }
  if (rc != SQLITE_DONE)
    return Error(absl::StrCat("reading the ticks of ", job_id));
  return ticks;
}

absl::Status StateStore::RecordSnapshot(const pgan::v1::Snapshot& snapshot) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement insert(
      db_,
      "INSERT OR REPLACE INTO snapshots (job_id, path, kimg, record) "
      "VALUES (?, ?, ?, ?)");
  insert.Bind(1, snapshot.job_id())
      .Bind(2, snapshot.path())
      .Bind(3, snapshot.kimg());
  insert.BindBlob(4, snapshot.SerializeAsString());
  if (insert.Step() != SQLITE_DONE) {
    return Error(absl::StrCat("recording snapshot ", snapshot.path()));
  }
  if (feed_ != nullptr) {
    pgan::v1::JobEvent event;
    *event.mutable_snapshot() = snapshot;
    PublishLocked(OwnerLocked(snapshot.job_id()), snapshot.job_id(),
                  std::move(event));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<pgan::v1::Snapshot>> StateStore::Snapshots(
    const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement select(
      db_, "SELECT record FROM snapshots WHERE job_id = ? ORDER BY kimg, path");
  select.Bind(1, job_id);
  std::vector<pgan::v1::Snapshot> snapshots;
  int rc = SQLITE_DONE;
  while ((rc = select.Step()) == SQLITE_ROW) {
    ASSIGN_OR_RETURN(
        pgan::v1::Snapshot snapshot,
        Parse<pgan::v1::Snapshot>(select.Blob(0), "a snapshot of " + job_id));
    snapshots.push_back(std::move(snapshot));
  }
  if (rc != SQLITE_DONE)
    return Error(absl::StrCat("reading the snapshots of ", job_id));
  return snapshots;
}

absl::Status StateStore::UpsertWorker(const WorkerRecord& worker) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement upsert(
      db_,
      "INSERT OR REPLACE INTO workers (id, info, job_id, generation, "
      "last_seen_unix_ms) VALUES (?, ?, ?, ?, ?)");
  upsert.Bind(1, worker.id).BindBlob(2, worker.info.SerializeAsString());
  upsert.Bind(3, worker.job_id)
      .Bind(4, worker.generation)
      .Bind(5, worker.last_seen_unix_ms);
  if (upsert.Step() != SQLITE_DONE)
    return Error(absl::StrCat("recording worker ", worker.id));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<WorkerRecord>> StateStore::ListWorkers() {
  std::lock_guard<std::mutex> lock(mu_);
  Statement select(
      db_,
      "SELECT id, info, job_id, generation, last_seen_unix_ms FROM workers "
      "ORDER BY id");
  std::vector<WorkerRecord> workers;
  int rc = SQLITE_DONE;
  while ((rc = select.Step()) == SQLITE_ROW) {
    WorkerRecord worker;
    worker.id = select.Text(0);
    ASSIGN_OR_RETURN(worker.info, Parse<pgan::v1::WorkerInfo>(
                                      select.Blob(1), "worker " + worker.id));
    worker.job_id = select.Text(2);
    worker.generation = select.Int(3);
    worker.last_seen_unix_ms = select.Int(4);
    workers.push_back(std::move(worker));
  }
  if (rc != SQLITE_DONE) return Error("listing workers");
  return workers;
}

}  // namespace pgan::services
