// The coordinator's scheduler: the pool of registered workers, gang
// scheduling of queued jobs onto them (all or nothing, by priority then
// submission order, a gang's ranks packed host by host), rendezvous, and
// failure handling. A worker that misses heartbeats for `heartbeat_timeout`
// or reports a retryable failure ends its whole gang: every member is told
// to abort, the generation goes up, and the job restarts from its latest
// snapshot within its restart budget. Workers of an old generation are
// refused. Jobs live in the StateStore; the pool and gang membership live
// in memory and are rebuilt from heartbeats after a coordinator restart
// (a worker reports the job and generation it runs). No job stays running
// without a live task: a running job that no worker comes back to, and a
// gang member that heartbeats without its task, restart the gang.
// Every job and gang transition and every worker lost or back is logged,
// one line each. Thread-safe.
#ifndef PGAN_SERVICES_SCHEDULER_H_
#define PGAN_SERVICES_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pgan/v1/worker.pb.h"
#include "services/parked_calls.h"
#include "services/state_store.h"

namespace pgan::services {

struct SchedulerOptions {
  absl::Duration heartbeat_interval = absl::Seconds(1);
  // Missing heartbeats this long ends the worker's gang. Default 10 s.
  absl::Duration heartbeat_timeout = absl::Seconds(10);
  // Heartbeats per second the whole pool may send; 0: no bound. A pool
  // larger than this at heartbeat_interval is told to beat less often (an
  // interval of workers / rate seconds), and its heartbeat timeout grows
  // in proportion: large pools keep the coordinator inside its capacity
  // and notice a lost worker later.
  double max_heartbeat_rate = 5000;
  // After a coordinator restart, how long a running job waits for a task
  // of its generation to come back before it restarts (its workers
  // reconnect within 5 s, see proto/rpc.cc). Zero: twice the heartbeat
  // timeout.
  absl::Duration readopt_grace = absl::ZeroDuration();
  // How long a Rendezvous call waits for the rest of its gang.
  absl::Duration rendezvous_timeout = absl::Seconds(60);
  // Where run directories go when a job names no output_dir.
  std::string storage_dir;
  // Restart budget for jobs that set none.
  int default_max_restarts = 5;
  // Where the transitions go, one line each without a newline (the
  // coordinator's log); null: nowhere.
  std::function<void(const std::string&)> log;
};

class Scheduler {
 public:
  Scheduler(StateStore* store, SchedulerOptions options);

  absl::StatusOr<pgan::v1::RegisterWorkerResponse> Register(
      const pgan::v1::RegisterWorkerRequest& request, absl::Time now);
  absl::StatusOr<pgan::v1::HeartbeatResponse> Heartbeat(
      const pgan::v1::HeartbeatRequest& request, absl::Time now);
  // How a call that may wait is answered: exactly once, from any thread
  // (never under the scheduler's lock).
  template <typename T>
  using Done = std::function<void(absl::StatusOr<T>)>;
  // Answers once every member of the generation has arrived (or at the
  // rendezvous timeout: DEADLINE_EXCEEDED; or when the gang fails:
  // ABORTED). Returns at once: a call that must wait is parked and holds
  // no thread.
  void Rendezvous(const pgan::v1::RendezvousRequest& request,
                  Done<pgan::v1::RendezvousResponse> done);
  // The gang's key-value store (see worker.proto). StoreGet answers when
  // the key is set, the wait ends (DEADLINE_EXCEEDED) or the gang fails
  // (ABORTED); parked like Rendezvous.
  absl::Status StoreSet(const pgan::v1::StoreSetRequest& request);
  void StoreGet(const pgan::v1::StoreGetRequest& request,
                Done<pgan::v1::StoreGetResponse> done);
  // Answers every Rendezvous and StoreGet waiting now with UNAVAILABLE
  // (the coordinator is shutting down).
  void AbandonWaiting() { parked_.AbandonAll(); }
  // The same, blocking the calling thread until the answer.
  absl::StatusOr<pgan::v1::RendezvousResponse> Rendezvous(
      const pgan::v1::RendezvousRequest& request);
  absl::StatusOr<pgan::v1::StoreGetResponse> StoreGet(
      const pgan::v1::StoreGetRequest& request);
  // Records the tick; its metrics also update the job's latest and best
  // values and the measured snapshot's record.
  absl::Status ReportTick(const pgan::v1::ReportTickRequest& request);
  absl::Status ReportSnapshot(const pgan::v1::ReportSnapshotRequest& request);
  absl::Status ReportExit(const pgan::v1::ReportExitRequest& request,
                          absl::Time now);

  // Ends the gangs of workers silent for longer than the timeout, then
  // schedules. The coordinator calls it every second.
  absl::Status Tick(absl::Time now);
  // Assigns idle workers to queued jobs; records pending reasons.
  absl::Status Schedule(absl::Time now);

  // Records a job that an mpirun gang runs on its own (`job` has its id,
  // owner and spec) as running, with a pseudo-worker that stands for the
  // gang: its rank 0 heartbeats and reports under the returned worker id
  // with the owner's token. The coordinator does not restart such a job: a
  // gang that stops heartbeating fails it.
  absl::StatusOr<pgan::v1::RegisterWorkerResponse> Attach(
      pgan::v1::Job job, const std::string& host, absl::Time now);
  // The owner of job `job_id` if `worker_id` stands for its attached gang
  // ("attached-<job id>"); empty otherwise.
  std::string AttachedOwner(const std::string& worker_id,
                            const std::string& job_id) const;

  // Cancels a job that has not ended (else FAILED_PRECONDITION); its gang is
  // told to abort.
  absl::StatusOr<pgan::v1::Job> Cancel(const std::string& job_id,
                                       absl::Time now);

  int idle_workers() const;
  struct WorkerCounts {
    int idle = 0, busy = 0, dead = 0;
  };
  WorkerCounts worker_counts() const;
  // Every registered worker by id, in the states worker_counts() counts
  // (job ids unfiltered: callers hide what their caller may not see).
  std::vector<pgan::v1::WorkerStatus> ListWorkers(absl::Time now) const;
  // The run directory a gang of `job` is given: the job's output_dir, else
  // the storage dir, then the job id.
  std::string RunDir(const pgan::v1::Job& job) const;

 private:
  struct Worker {
    std::string id;
    pgan::v1::WorkerInfo info;
    absl::Time last_seen;
    // The heartbeat interval it was last told.
    absl::Duration interval = absl::Seconds(1);
    std::string job_id;  // Empty: idle.
    int64_t generation = 0;
    // Delivered with the next heartbeat.
    pgan::v1::HeartbeatResponse::Action pending =
        pgan::v1::HeartbeatResponse::ACTION_CONTINUE;
    pgan::v1::Assignment assignment;
    // Its heartbeats have named job_id at generation: its task runs (or
    // ran). Until then an idle heartbeat means the assignment was lost.
    bool started = false;
    std::string reason;
    bool dead = false;
    // Stands for an mpirun gang that attached itself (AttachJob): never
    // scheduled, gone when its job ends.
    bool attached = false;
  };
  struct Gang {
    int64_t generation = 0;
    std::vector<std::string> members;              // Worker ids in rank order.
    std::map<std::string, std::string> bootstrap;  // Arrived: worker -> bytes.
    std::map<std::string, std::string> store;      // StoreSet/StoreGet.
    bool failed = false;
  };

  // Under mu_.
  absl::Status ScheduleLocked(absl::Time now);
  absl::Status RecordMetricsLocked(const pgan::v1::TickRecord& tick,
                                   pgan::v1::Job* job);
  absl::Status FailGangLocked(const std::string& job_id,
                              const std::string& reason, bool retryable,
                              absl::Time now);
  void ReleaseGangLocked(const std::string& job_id,
                         const std::string& abort_reason);
  // After a coordinator restart: takes `w` back into the gang of the job
  // and generation it says it runs, or tells it to abort a stale one.
  void AdoptLocked(Worker& w, const std::string& job_id, int64_t generation);
  // The stand-in worker of an attached gang and its one-member gang.
  void AddAttachedLocked(const std::string& job_id, const std::string& host,
                         int64_t generation, absl::Time now);
  // Re-creates the stand-in of an attached gang after a coordinator
  // restart, when its job still runs at `generation`.
  bool ReadoptAttachedLocked(const std::string& worker_id,
                             const std::string& job_id, int64_t generation,
                             absl::Time now);
  // The heartbeat interval for the pool's size now, remembered as what
  // `w` was told; in milliseconds.
  int32_t TellIntervalLocked(Worker& w) const;
  // How long `w` may be silent before it is lost.
  absl::Duration TimeoutOf(const Worker& w) const;
  // A parked call's answer (nullopt: not yet); `expired`: it must answer.
  std::optional<absl::StatusOr<pgan::v1::RendezvousResponse>> RendezvousLocked(
      const pgan::v1::RendezvousRequest& request, bool expired) const;
  std::optional<absl::StatusOr<pgan::v1::StoreGetResponse>> StoreGetLocked(
      const pgan::v1::StoreGetRequest& request, bool expired) const;
  // The gang of a request's worker, job and generation (CheckMember's
  // error when it is not a member).
  template <typename Request>
  absl::StatusOr<const Gang*> MemberGang(const Request& request) const {
    absl::Status member = CheckMember(request.worker_id(), request.job_id(),
                                      request.generation());
    if (!member.ok()) return member;
    return &gangs_.at(request.job_id());
  }
  absl::Status CheckMember(const std::string& worker_id,
                           const std::string& job_id, int64_t generation) const;
  // A member that heartbeats with no task: it never got its assignment
  // (sent again) or its task ended unreported (the gang restarts).
  absl::Status ReconcileIdleMemberLocked(Worker& w, absl::Time now);
  // Running jobs with no unfinished task for longer than readopt_grace
  // (none of their workers, or only finished ones, came back after a
  // coordinator restart) restart.
  absl::Status RestartOrphansLocked(absl::Time now);
  void Log(const std::string& line) const;

  StateStore* store_;
  const SchedulerOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Worker> workers_;
  std::map<std::string, Gang> gangs_;  // By job id.
  // Running jobs without an unfinished task, since when.
  std::map<std::string, absl::Time> orphaned_since_;
  int64_t next_worker_ = 1;
  // Rendezvous and StoreGet calls waiting for their gang, by job id; woken
  // when the gang changes. Last: it stops (and answers what still waits)
  // before the state its calls read goes.
  ParkedCalls parked_{&mu_};
};

}  // namespace pgan::services

#endif  // PGAN_SERVICES_SCHEDULER_H_
