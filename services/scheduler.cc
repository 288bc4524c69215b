#include "services/scheduler.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cmath>
#include <future>
#include <optional>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace pgan::services {
namespace {

// The answer that hands `result` to `done`, or null while there is none.
template <typename T>
ParkedCalls::Answer Answering(std::optional<absl::StatusOr<T>> result,
                              const Scheduler::Done<T>& done) {
  if (!result.has_value()) return nullptr;
  return [result = *std::move(result), done] { done(result); };
}

// Runs a call that answers through a callback and waits for its answer.
template <typename T, typename Start>
absl::StatusOr<T> Await(Start start) {
  std::promise<absl::StatusOr<T>> answer;
  std::future<absl::StatusOr<T>> answered = answer.get_future();
  start([&answer](absl::StatusOr<T> result) {
    answer.set_value(std::move(result));
  });
  return answered.get();
}

using pgan::v1::HeartbeatResponse;
using pgan::v1::Job;
using pgan::v1::JobState;

google::protobuf::Timestamp ToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      absl::ToUnixNanos(t));
}

std::string NewWorkerId() {
  static std::mutex mu;
  static std::mt19937_64 engine{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  return absl::StrFormat("worker-%08x", static_cast<uint32_t>(engine()));
}

std::string Needs(const pgan::v1::Resources& r) {
  return absl::StrCat(
      r.workers(), " worker", r.workers() == 1 ? "" : "s", " with ",
      r.gpus_per_worker() > 0 ? absl::StrCat(r.gpus_per_worker(), " GPU")
                              : std::string("a CPU"),
      r.cpu_slots_per_worker() > 0
          ? absl::StrCat(" and ", r.cpu_slots_per_worker(), " cores")
          : std::string());
}

// How many of `available` matching idle workers a gang of `job` takes: all
// it asks for, or none. An elastic job restarting after a failure takes as
// many as there are, down to one, where the global batch still splits
// evenly (accumulation absorbs the rest), once no aborted worker is still
// on its way back (`freeing`); a fresh start waits for the whole gang.
int GangSize(const Job& job, int available, int freeing) {
  const int wanted = job.spec().resources().workers();
  if (available >= wanted) return wanted;
  if (!job.spec().elastic() || job.state() != pgan::v1::JOB_STATE_RESTARTING ||
      freeing > 0) {
    return 0;
  }
  const int batch = job.spec().training().batch();
  const int batch_gpu = job.spec().training().batch_gpu();
  for (int n = available; n >= 1; --n) {
    if (batch % n == 0 && (batch_gpu == 0 || (batch / n) % batch_gpu == 0)) {
      return n;
    }
  }
  return 0;
}

// The stand-in worker of an attached gang.
std::string AttachedWorkerId(const std::string& job_id) {
  return "attached-" + job_id;
}

}  // namespace

Scheduler::Scheduler(StateStore* store, SchedulerOptions options)
    : store_(store), options_(std::move(options)) {}

int Scheduler::idle_workers() const {
  std::lock_guard<std::mutex> lock(mu_);
  int idle = 0;
  for (const auto& [id, w] : workers_) {
    idle += !w.dead && w.job_id.empty() &&
            w.pending != HeartbeatResponse::ACTION_ABORT;
  }
  return idle;
}

Scheduler::WorkerCounts Scheduler::worker_counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  WorkerCounts counts;
  for (const auto& [id, w] : workers_) {
    if (w.dead) {
      ++counts.dead;
    } else if (w.job_id.empty() &&
               w.pending != HeartbeatResponse::ACTION_ABORT) {
      ++counts.idle;
    } else {
      ++counts.busy;
    }
  }
  return counts;
}

std::vector<pgan::v1::WorkerStatus> Scheduler::ListWorkers(
    absl::Time now) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<pgan::v1::WorkerStatus> out;
  out.reserve(workers_.size());
  for (const auto& [id, w] : workers_) {
    pgan::v1::WorkerStatus& s = out.emplace_back();
    s.set_id(id);
    s.set_host(w.info.host());
    s.set_gpus(w.info.gpus());
    s.set_cpu_slots(w.info.cpu_slots());
    s.set_version(w.info.version());
    if (w.dead) {
      s.set_state(pgan::v1::WORKER_STATE_LOST);
    } else if (w.job_id.empty() &&
               w.pending != HeartbeatResponse::ACTION_ABORT) {
      s.set_state(pgan::v1::WORKER_STATE_IDLE);
    } else {
      s.set_state(pgan::v1::WORKER_STATE_BUSY);
    }
    s.set_job_id(w.job_id);
    s.set_generation(w.generation);
    s.set_seconds_since_heartbeat(absl::ToDoubleSeconds(now - w.last_seen));
  }
  return out;
}

std::string Scheduler::RunDir(const Job& job) const {
  return absl::StrCat(job.spec().output_dir().empty() ? options_.storage_dir
                                                      : job.spec().output_dir(),
                      "/", job.id());
}

absl::StatusOr<pgan::v1::RegisterWorkerResponse> Scheduler::Attach(
    Job job, const std::string& host, absl::Time now) {
  if (host.empty() || host.size() > 255) {
    return absl::InvalidArgumentError("host: expected 1 to 255 characters");
  }
  std::lock_guard<std::mutex> lock(mu_);
  const std::string id = AttachedWorkerId(job.id());
  job.set_state(pgan::v1::JOB_STATE_RUNNING);
  job.set_attached(true);
  job.set_generation(1);
  job.set_world_size(job.spec().resources().workers());
  *job.mutable_started() = ToProto(now);
  RETURN_IF_ERROR(store_->InsertJob(job).status());
  AddAttachedLocked(job.id(), host, /*generation=*/1, now);
  pgan::v1::RegisterWorkerResponse response;
  response.set_worker_id(id);
  response.set_heartbeat_interval_ms(static_cast<int32_t>(
      absl::ToInt64Milliseconds(options_.heartbeat_interval)));
  return response;
}

std::string Scheduler::AttachedOwner(const std::string& worker_id,
                                     const std::string& job_id) const {
  if (job_id.empty() || worker_id != AttachedWorkerId(job_id)) return "";
  absl::StatusOr<StoredJob> stored = store_->GetJob(job_id);
  return stored.ok() && stored->job.attached() ? stored->job.owner() : "";
}

bool Scheduler::ReadoptAttachedLocked(const std::string& worker_id,
                                      const std::string& job_id,
                                      int64_t generation, absl::Time now) {
  if (job_id.empty() || worker_id != AttachedWorkerId(job_id)) return false;
  absl::StatusOr<StoredJob> stored = store_->GetJob(job_id);
  if (!stored.ok() || !stored->job.attached() ||
      stored->job.state() != pgan::v1::JOB_STATE_RUNNING ||
      stored->job.generation() != generation) {
    return false;
  }
  AddAttachedLocked(job_id, "attached", generation, now);
  return true;
}

void Scheduler::AddAttachedLocked(const std::string& job_id,
                                  const std::string& host, int64_t generation,
                                  absl::Time now) {
  const std::string id = AttachedWorkerId(job_id);
  Worker& w = workers_[id];
  w.id = id;
  w.info.set_host(host);
  w.info.set_cpu_slots(1);
  w.last_seen = now;
  w.interval = options_.heartbeat_interval;
  w.job_id = job_id;
  w.generation = generation;
  w.attached = true;
  Gang& gang = gangs_[job_id];
  gang.generation = generation;
  gang.members = {id};
}

absl::StatusOr<pgan::v1::RegisterWorkerResponse> Scheduler::Register(
    const pgan::v1::RegisterWorkerRequest& request, absl::Time now) {
  const pgan::v1::WorkerInfo& info = request.info();
  if (info.host().empty() || info.host().size() > 255) {
    return absl::InvalidArgumentError(
        "info.host: expected 1 to 255 characters");
  }
  if (info.gpus() < 0 || info.gpus() > 64) {
    return absl::InvalidArgumentError("info.gpus: expected 0 to 64");
  }
  if (info.cpu_slots() < 1 || info.cpu_slots() > 4096) {
    return absl::InvalidArgumentError("info.cpu_slots: expected 1 to 4096");
  }
  if (request.worker_id().size() > 64) {
    return absl::InvalidArgumentError("worker_id: at most 64 characters");
  }
  std::lock_guard<std::mutex> lock(mu_);
  // A worker reconnecting (after its or the coordinator's restart) keeps
  // its id; its job, if any, is re-adopted from its next heartbeat.
  const std::string id =
      request.worker_id().empty() ? NewWorkerId() : request.worker_id();
  const bool known = workers_.count(id) > 0 && !workers_[id].dead;
  Worker& w = workers_[id];
  w.id = id;
  w.info = info;
  w.last_seen = now;
  w.dead = false;
  Log(absl::StrCat(
      "worker ", id, " on ", info.host(),
      request.worker_id().empty() ? " joined"
      : known                     ? " registered again"
                                  : " rejoined",
      " (", info.gpus(), " GPU, ", info.cpu_slots(), " cores",
      request.job_id().empty()
          ? std::string(")")
          : absl::StrCat(", running job ", request.job_id(), " generation ",
                         request.generation(), ")")));
  AdoptLocked(w, request.job_id(), request.generation());
  pgan::v1::RegisterWorkerResponse response;
  response.set_worker_id(id);
  response.set_heartbeat_interval_ms(TellIntervalLocked(w));
  return response;
}

void Scheduler::AdoptLocked(Worker& w, const std::string& job_id,
                            int64_t generation) {
  if (!w.job_id.empty() || job_id.empty() ||
      w.pending == HeartbeatResponse::ACTION_ABORT) {
    return;
  }
  // The coordinator restarted under a running gang: adopt the worker if
  // its generation is the job's current one, else stop it.
  absl::StatusOr<StoredJob> stored = store_->GetJob(job_id);
  const bool current = stored.ok() && stored->job.generation() == generation;
  if (current && stored->job.state() == pgan::v1::JOB_STATE_SUCCEEDED) {
    return;  // Its task reported success and is exiting: nothing to stop.
  }
  if (current && stored->job.state() == pgan::v1::JOB_STATE_RUNNING) {
    w.job_id = job_id;
    w.generation = generation;
    w.started = true;
    orphaned_since_.erase(job_id);
    Gang& gang = gangs_[job_id];
    gang.generation = generation;
    if (std::find(gang.members.begin(), gang.members.end(), w.id) ==
        gang.members.end()) {
      gang.members.push_back(w.id);
    }
    return;
  }
  w.pending = HeartbeatResponse::ACTION_ABORT;
  w.reason = absl::StrCat("job ", job_id, " generation ", generation,
                          " is not running any more");
}

absl::StatusOr<HeartbeatResponse> Scheduler::Heartbeat(
    const pgan::v1::HeartbeatRequest& request, absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(request.worker_id());
  if (it == workers_.end() &&
      ReadoptAttachedLocked(request.worker_id(), request.job_id(),
                            request.generation(), now)) {
    it = workers_.find(request.worker_id());
  }
  if (it == workers_.end() || it->second.dead) {
    return absl::NotFoundError(
        absl::StrCat("worker ", request.worker_id(),
                     " is not registered (or was declared dead): "
                     "register again"));
  }
  Worker& w = it->second;
  w.last_seen = now;
  HeartbeatResponse response;
  if (request.leaving()) {
    const std::string job_id = w.job_id, host = w.info.host();
    workers_.erase(it);
    Log(absl::StrCat("worker ", request.worker_id(), " on ", host,
                     " left the pool"));
    if (!job_id.empty()) {
      RETURN_IF_ERROR(FailGangLocked(
          job_id,
          absl::StrCat(request.worker_id(), " on ", host, " left the pool"),
          /*retryable=*/true, now));
    }
    response.set_action(HeartbeatResponse::ACTION_CONTINUE);
    return response;
  }
  AdoptLocked(w, request.job_id(), request.generation());
  if (!w.job_id.empty() && request.job_id() == w.job_id &&
      request.generation() == w.generation) {
    w.started = true;
  }
  if (request.job_id().empty())
    RETURN_IF_ERROR(ReconcileIdleMemberLocked(w, now));
  response.set_action(w.pending);
  response.set_heartbeat_interval_ms(TellIntervalLocked(w));
  if (w.pending == HeartbeatResponse::ACTION_ASSIGN)
    *response.mutable_assignment() = w.assignment;
  response.set_reason(w.reason);
  const bool freed = w.pending == HeartbeatResponse::ACTION_ABORT;
  w.pending = HeartbeatResponse::ACTION_CONTINUE;
  w.reason.clear();
  if (freed && w.attached) workers_.erase(it);  // Told; its job has ended.
  // A worker that has just been told to abort is idle from now on.
  if (freed) RETURN_IF_ERROR(ScheduleLocked(now));
  return response;
}

absl::Status Scheduler::ReconcileIdleMemberLocked(Worker& w, absl::Time now) {
  // Pending ASSIGN is delivered now, pending ABORT told now.
  if (w.job_id.empty() || w.attached ||
      w.pending != HeartbeatResponse::ACTION_CONTINUE) {
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(StoredJob stored, store_->GetJob(w.job_id));
  const auto& finished = stored.job.finished_workers();
  if (std::find(finished.begin(), finished.end(), w.id) != finished.end()) {
    return absl::OkStatus();  // Done; waits for the rest of its gang.
  }
  if (!w.started && !w.assignment.job_id().empty()) {
    // The response that carried the assignment never arrived: again.
    w.pending = HeartbeatResponse::ACTION_ASSIGN;
    return absl::OkStatus();
  }
  const std::string job_id = w.job_id;
  return FailGangLocked(
      job_id,
      absl::StrCat(w.id, " on ", w.info.host(), " runs no task of generation ",
                   w.generation, " (its task ended without a report)"),
      /*retryable=*/true, now);
}

absl::Status Scheduler::CheckMember(const std::string& worker_id,
                                    const std::string& job_id,
                                    int64_t generation) const {
  auto w = workers_.find(worker_id);
  auto g = gangs_.find(job_id);
  if (w == workers_.end() || g == gangs_.end() || w->second.job_id != job_id ||
      g->second.generation != generation || g->second.failed) {
    // A job still running at this generation whose gang this worker is not
    // back in yet (the coordinator restarted; its heartbeat re-adopts it):
    // worth retrying. Anything else is a stale or ended gang.
    absl::StatusOr<StoredJob> stored = store_->GetJob(job_id);
    if (stored.ok() && stored->job.state() == pgan::v1::JOB_STATE_RUNNING &&
        stored->job.generation() == generation && w == workers_.end()) {
      return absl::UnavailableError(absl::StrCat(
          "worker ", worker_id, " is not back in generation ", generation,
          " of job ", job_id, " yet (after a coordinator restart); retry"));
    }
    return absl::AbortedError(
        absl::StrCat("worker ", worker_id, " is not in generation ", generation,
                     " of job ", job_id, " (a stale or ended gang)"));
  }
  return absl::OkStatus();
}

void Scheduler::Rendezvous(const pgan::v1::RendezvousRequest& request,
                           Done<pgan::v1::RendezvousResponse> done) {
  if (request.bootstrap().size() > 4096) {
    return done(absl::InvalidArgumentError("bootstrap: at most 4096 bytes"));
  }
  absl::Status refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    refused = CheckMember(request.worker_id(), request.job_id(),
                          request.generation());
    if (refused.ok()) {
      gangs_[request.job_id()].bootstrap[request.worker_id()] =
          request.bootstrap();
      parked_.WakeLocked(request.job_id());
      // Waits, parked, for the rest of the gang.
      auto attempt = [this, request, done](bool expired) {
        return Answering(RendezvousLocked(request, expired), done);
      };
      parked_.ParkLocked(request.job_id(),
                         absl::Now() + options_.rendezvous_timeout,
                         std::move(attempt), done);
      return;
    }
  }
  done(refused);
}

std::optional<absl::StatusOr<pgan::v1::RendezvousResponse>>
Scheduler::RendezvousLocked(const pgan::v1::RendezvousRequest& request,
                            bool expired) const {
  absl::StatusOr<const Gang*> member = MemberGang(request);
  if (!member.ok()) return member.status();
  const Gang& gang = **member;
  if (gang.bootstrap.size() < gang.members.size()) {
    if (!expired) return std::nullopt;
    return absl::DeadlineExceededError(
        absl::StrCat("rendezvous of job ", request.job_id(), " generation ",
                     request.generation(), ": ", gang.bootstrap.size(), " of ",
                     gang.members.size(), " workers arrived"));
  }
  pgan::v1::RendezvousResponse response;
  response.set_world_size(static_cast<int32_t>(gang.members.size()));
  response.set_generation(gang.generation);
  for (size_t r = 0; r < gang.members.size(); ++r) {
    if (gang.members[r] == request.worker_id())
      response.set_rank(static_cast<int32_t>(r));
    response.add_bootstrap(gang.bootstrap.at(gang.members[r]));
  }
  return response;
}

absl::Status Scheduler::StoreSet(const pgan::v1::StoreSetRequest& request) {
  if (request.key().empty() || request.key().size() > 256) {
    return absl::InvalidArgumentError("key: expected 1 to 256 characters");
  }
  if (request.value().size() > 64 * 1024) {
    return absl::InvalidArgumentError("value: at most 64 KiB");
  }
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(
      CheckMember(request.worker_id(), request.job_id(), request.generation()));
  Gang& gang = gangs_[request.job_id()];
  if (gang.store.count(request.key()) == 0 &&
      gang.store.size() >= 64 + 8 * gang.members.size()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the store of job ", request.job_id(), " generation ",
        request.generation(), " is full (", gang.store.size(), " keys)"));
  }
  gang.store[request.key()] = request.value();
  parked_.WakeLocked(request.job_id());
  return absl::OkStatus();
}

void Scheduler::StoreGet(const pgan::v1::StoreGetRequest& request,
                         Done<pgan::v1::StoreGetResponse> done) {
  if (request.wait_ms() < 0 || request.wait_ms() > 60000) {
    return done(absl::InvalidArgumentError("wait_ms: expected 0 to 60000"));
  }
  auto attempt = [this, request, done](bool expired) {
    return Answering(StoreGetLocked(request, expired), done);
  };
  std::lock_guard<std::mutex> lock(mu_);
  parked_.ParkLocked(request.job_id(),
                     absl::Now() + absl::Milliseconds(request.wait_ms()),
                     std::move(attempt), done);
}

std::optional<absl::StatusOr<pgan::v1::StoreGetResponse>>
Scheduler::StoreGetLocked(const pgan::v1::StoreGetRequest& request,
                          bool expired) const {
  absl::StatusOr<const Gang*> member = MemberGang(request);
  if (!member.ok()) return member.status();
  const Gang& gang = **member;
  if (auto it = gang.store.find(request.key()); it != gang.store.end()) {
    pgan::v1::StoreGetResponse response;
    response.set_value(it->second);
    return response;
  }
  if (!expired) return std::nullopt;
  return absl::DeadlineExceededError(absl::StrCat(
      "key '", request.key(), "' of job ", request.job_id(), " generation ",
      request.generation(), " not set within ", request.wait_ms(), " ms"));
}

absl::StatusOr<pgan::v1::RendezvousResponse> Scheduler::Rendezvous(
    const pgan::v1::RendezvousRequest& request) {
  return Await<pgan::v1::RendezvousResponse>(
      [&](auto done) { Rendezvous(request, std::move(done)); });
}

absl::StatusOr<pgan::v1::StoreGetResponse> Scheduler::StoreGet(
    const pgan::v1::StoreGetRequest& request) {
  return Await<pgan::v1::StoreGetResponse>(
      [&](auto done) { StoreGet(request, std::move(done)); });
}

absl::Status Scheduler::ReportTick(const pgan::v1::ReportTickRequest& request) {
  // Under the lock: a job's read-modify-write must not race a state change.
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(
      CheckMember(request.worker_id(), request.job_id(), request.generation()));
  RETURN_IF_ERROR(store_->RecordTick(request.job_id(), request.tick()));
  ASSIGN_OR_RETURN(StoredJob stored, store_->GetJob(request.job_id()));
  Job& job = stored.job;
  const pgan::v1::TickRecord& tick = request.tick();
  *job.mutable_last_tick() = tick;
  const double left = job.spec().training().kimg() - tick.kimg();
  job.set_eta_seconds(std::max(0.0, left * tick.sec_per_kimg()));
  if (tick.metrics_size() > 0) {
    RETURN_IF_ERROR(RecordMetricsLocked(tick, &job));
  }
  return store_->UpdateJob(job);
}

absl::Status Scheduler::RecordMetricsLocked(const pgan::v1::TickRecord& tick,
                                            Job* job) {
  *job->mutable_metrics() = tick.metrics();
  job->set_metrics_kimg(tick.metrics_kimg());
  for (const pgan::v1::MetricValue& m : tick.metrics()) {
    pgan::v1::MetricValue* best = nullptr;
    for (pgan::v1::MetricValue& b : *job->mutable_best_metrics()) {
      if (b.metric() == m.metric()) best = &b;
    }
    if (best == nullptr) {
      *job->add_best_metrics() = m;
    } else if (m.value() < best->value()) {
      best->set_value(m.value());
    }
  }
  // The snapshot they measured (written before its metrics) carries them,
  // for `pgan download --snapshot best`.
  ASSIGN_OR_RETURN(std::vector<pgan::v1::Snapshot> snapshots,
                   store_->Snapshots(job->id()));
  for (pgan::v1::Snapshot& s : snapshots) {
    if (std::abs(s.kimg() - tick.metrics_kimg()) < 5e-4) {
      *s.mutable_metrics() = tick.metrics();
      RETURN_IF_ERROR(store_->RecordSnapshot(s));
    }
  }
  return absl::OkStatus();
}

absl::Status Scheduler::ReportSnapshot(
    const pgan::v1::ReportSnapshotRequest& request) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    RETURN_IF_ERROR(CheckMember(request.worker_id(), request.job_id(),
                                request.generation()));
  }
  pgan::v1::Snapshot snapshot = request.snapshot();
  snapshot.set_job_id(request.job_id());
  return store_->RecordSnapshot(snapshot);
}

absl::Status Scheduler::ReportExit(const pgan::v1::ReportExitRequest& request,
                                   absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<StoredJob> stored = store_->GetJob(request.job_id());
  if (!stored.ok()) return stored.status();
  Job& job = stored->job;
  // An exit of the current generation of a running job counts even before
  // its worker is back in the gang after a coordinator restart (the task
  // may have ended while the coordinator was away); any other is of a
  // stale or ended gang: nothing to do, and the worker may drop it.
  if (job.state() != pgan::v1::JOB_STATE_RUNNING ||
      job.generation() != request.generation()) {
    return absl::OkStatus();
  }
  auto g = gangs_.find(request.job_id());
  if (g != gangs_.end() && !job.attached() &&
      static_cast<int>(g->second.members.size()) >= job.world_size() &&
      std::find(g->second.members.begin(), g->second.members.end(),
                request.worker_id()) == g->second.members.end()) {
    return absl::OkStatus();  // Not one of this generation's workers.
  }
  if (request.exit_code() == 0) {
    // Done when every rank is: rank 0 may still be writing the final
    // snapshot when the others return. An attached gang has one stand-in
    // for all its ranks.
    const auto& finished = job.finished_workers();
    if (std::find(finished.begin(), finished.end(), request.worker_id()) ==
        finished.end()) {
      job.add_finished_workers(request.worker_id());
    }
    const int world = job.attached() ? 1 : job.world_size();
    if (job.finished_workers_size() < world) return store_->UpdateJob(job);
    job.set_state(pgan::v1::JOB_STATE_SUCCEEDED);
    *job.mutable_finished() = ToProto(now);
    RETURN_IF_ERROR(store_->UpdateJob(job));
    Log(absl::StrCat("job ", job.id(), " succeeded at generation ",
                     job.generation()));
    ReleaseGangLocked(request.job_id(), "");
    orphaned_since_.erase(request.job_id());
    return ScheduleLocked(now);
  }
  return FailGangLocked(
      request.job_id(),
      absl::StrCat("worker ", request.worker_id(), " exited with ",
                   request.exit_code(), ": ", request.reason()),
      request.retryable(), now);
}

void Scheduler::ReleaseGangLocked(const std::string& job_id,
                                  const std::string& abort_reason) {
  auto g = gangs_.find(job_id);
  if (g == gangs_.end()) return;
  for (const std::string& member : g->second.members) {
    auto w = workers_.find(member);
    if (w == workers_.end() || w->second.job_id != job_id) continue;
    w->second.job_id.clear();
    w->second.generation = 0;
    if (!abort_reason.empty()) {
      w->second.pending = HeartbeatResponse::ACTION_ABORT;
      w->second.reason = abort_reason;
    } else if (w->second.pending == HeartbeatResponse::ACTION_ASSIGN) {
      w->second.pending = HeartbeatResponse::ACTION_CONTINUE;
    }
  }
  g->second.failed = true;
  for (const std::string& member : g->second.members) {
    auto w = workers_.find(member);
    // An attached gang's stand-in goes once it has been told (or at once
    // when there is nothing to tell).
    if (w != workers_.end() && w->second.attached &&
        (w->second.dead ||
         w->second.pending != HeartbeatResponse::ACTION_ABORT)) {
      workers_.erase(w);
    }
  }
  gangs_.erase(g);
  parked_.WakeLocked(job_id);
}

absl::Status Scheduler::FailGangLocked(const std::string& job_id,
                                       const std::string& reason,
                                       bool retryable, absl::Time now) {
  ReleaseGangLocked(job_id, reason);
  ASSIGN_OR_RETURN(StoredJob stored, store_->GetJob(job_id));
  Job& job = stored.job;
  // A job that has ended (cancelled, say) stays as it is.
  if (job.state() != pgan::v1::JOB_STATE_RUNNING) return ScheduleLocked(now);
  orphaned_since_.erase(job_id);
  const int budget = job.spec().has_max_restarts()
                         ? job.spec().max_restarts()
                         : options_.default_max_restarts;
  if (!retryable || job.restarts() >= budget || job.attached()) {
    job.set_state(pgan::v1::JOB_STATE_FAILED);
    job.set_failure_reason(
        retryable && !job.attached()
            ? absl::StrCat("restart budget (", budget,
                           ") used up; last failure: ", reason)
            : reason);
    *job.mutable_finished() = ToProto(now);
    Log(absl::StrCat("job ", job_id, " failed at generation ", job.generation(),
                     ": ", job.failure_reason()));
  } else {
    job.set_state(pgan::v1::JOB_STATE_RESTARTING);
    job.set_restarts(job.restarts() + 1);
    job.set_pending_reason(
        absl::StrCat("restarting from the latest snapshot after: ", reason));
    Log(absl::StrCat("job ", job_id, " generation ", job.generation(),
                     " aborted (restart ", job.restarts(), " of ", budget,
                     "): ", reason));
  }
  RETURN_IF_ERROR(store_->UpdateJob(job));
  return ScheduleLocked(now);
}

absl::StatusOr<Job> Scheduler::Cancel(const std::string& job_id,
                                      absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(StoredJob stored, store_->GetJob(job_id));
  Job& job = stored.job;
  if (job.state() == pgan::v1::JOB_STATE_SUCCEEDED ||
      job.state() == pgan::v1::JOB_STATE_FAILED ||
      job.state() == pgan::v1::JOB_STATE_CANCELLED) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " has already ended (",
                     pgan::v1::JobState_Name(job.state()), ")"));
  }
  job.set_state(pgan::v1::JOB_STATE_CANCELLED);
  job.clear_pending_reason();
  *job.mutable_finished() = ToProto(now);
  RETURN_IF_ERROR(store_->UpdateJob(job));
  Log(absl::StrCat("job ", job_id, " cancelled"));
  orphaned_since_.erase(job_id);
  ReleaseGangLocked(job_id, "the job was cancelled");
  RETURN_IF_ERROR(ScheduleLocked(now));
  return job;
}

int32_t Scheduler::TellIntervalLocked(Worker& w) const {
  w.interval = options_.heartbeat_interval;
  if (options_.max_heartbeat_rate > 0) {
    w.interval = std::max(w.interval,
                          absl::Seconds(static_cast<double>(workers_.size()) /
                                        options_.max_heartbeat_rate));
  }
  return static_cast<int32_t>(absl::ToInt64Milliseconds(w.interval));
}

absl::Duration Scheduler::TimeoutOf(const Worker& w) const {
  // As many missed beats as at the base interval: a worker told to beat
  // less often is given as much longer.
  return options_.heartbeat_timeout *
         std::max(1.0,
                  absl::FDivDuration(w.interval, options_.heartbeat_interval));
}

absl::Status Scheduler::Tick(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, w] : workers_) {
    if (w.dead || now - w.last_seen <= TimeoutOf(w)) continue;
    w.dead = true;
    Log(absl::StrCat("worker ", id, " on ", w.info.host(),
                     " lost (no heartbeat for ",
                     absl::FormatDuration(now - w.last_seen), ")"));
    if (!w.job_id.empty()) {
      const std::string job_id = w.job_id;
      RETURN_IF_ERROR(FailGangLocked(
          job_id,
          absl::StrCat(id, " on ", w.info.host(), " sent no heartbeat for ",
                       absl::FormatDuration(now - w.last_seen)),
          /*retryable=*/true, now));
    }
  }
  RETURN_IF_ERROR(RestartOrphansLocked(now));
  return ScheduleLocked(now);
}

absl::Status Scheduler::RestartOrphansLocked(absl::Time now) {
  JobQuery query;
  query.states = {pgan::v1::JOB_STATE_RUNNING};
  query.limit = 100000;
  ASSIGN_OR_RETURN(std::vector<StoredJob> running, store_->ListJobs(query));
  std::map<std::string, absl::Time> orphaned;
  for (const StoredJob& stored : running) {
    const Job& job = stored.job;
    // Live: a member runs (or is about to run) a task of the generation and
    // has not finished. Dead members have just ended their gang (Tick).
    bool live = false;
    if (auto g = gangs_.find(job.id()); g != gangs_.end()) {
      const auto& finished = job.finished_workers();
      for (const std::string& member : g->second.members) {
        auto w = workers_.find(member);
        live = live || (w != workers_.end() && !w->second.dead &&
                        w->second.job_id == job.id() &&
                        std::find(finished.begin(), finished.end(), member) ==
                            finished.end());
      }
    }
    if (live) continue;
    auto since = orphaned_since_.find(job.id());
    orphaned[job.id()] = since == orphaned_since_.end() ? now : since->second;
  }
  orphaned_since_ = orphaned;
  for (const auto& [id, since] : orphaned) {
    // Time for the workers to reconnect and register again after a
    // coordinator restart.
    const absl::Duration grace = options_.readopt_grace > absl::ZeroDuration()
                                     ? options_.readopt_grace
                                     : 2 * options_.heartbeat_timeout;
    if (now - since <= grace) continue;
    ASSIGN_OR_RETURN(StoredJob stored, store_->GetJob(id));
    RETURN_IF_ERROR(FailGangLocked(
        id,
        absl::StrCat("no unfinished task of generation ",
                     stored.job.generation(), " seen for ",
                     absl::FormatDuration(now - since),
                     " (its tasks ended or were lost while the coordinator "
                     "was away)"),
        /*retryable=*/true, now));
  }
  return absl::OkStatus();
}

void Scheduler::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

absl::Status Scheduler::Schedule(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  return ScheduleLocked(now);
}

absl::Status Scheduler::ScheduleLocked(absl::Time now) {
  JobQuery query;
  query.states = {pgan::v1::JOB_STATE_QUEUED, pgan::v1::JOB_STATE_RESTARTING};
  query.limit = 100000;
  ASSIGN_OR_RETURN(std::vector<StoredJob> waiting, store_->ListJobs(query));
  // Nothing waits (the usual case of each tick): no pass over the pool,
  // which holds the lock for milliseconds at 100,000 workers.
  if (waiting.empty()) return absl::OkStatus();
  std::stable_sort(waiting.begin(), waiting.end(),
                   [](const StoredJob& a, const StoredJob& b) {
                     return a.job.spec().priority() > b.job.spec().priority();
                   });
  std::vector<Worker*> idle;
  for (auto& [id, w] : workers_) {
    if (!w.dead && w.job_id.empty() &&
        w.pending != HeartbeatResponse::ACTION_ABORT) {
      idle.push_back(&w);
    }
  }
  std::string blocked_by;
  for (StoredJob& stored : waiting) {
    Job& job = stored.job;
    const pgan::v1::Resources& r = job.spec().resources();
    std::vector<Worker*> fit;
    for (Worker* w : idle) {
      if (w->info.gpus() >= r.gpus_per_worker() &&
          (r.cpu_slots_per_worker() == 0 ||
           w->info.cpu_slots() >= r.cpu_slots_per_worker())) {
        fit.push_back(w);
      }
    }
    int freeing = 0;
    for (const auto& [id, w] : workers_) {
      freeing += !w.dead && w.pending == HeartbeatResponse::ACTION_ABORT &&
                 w.info.gpus() >= r.gpus_per_worker() &&
                 (r.cpu_slots_per_worker() == 0 ||
                  w.info.cpu_slots() >= r.cpu_slots_per_worker());
    }
    const int gang_size = GangSize(job, static_cast<int>(fit.size()), freeing);
    std::string reason;
    if (!blocked_by.empty()) {
      reason = absl::StrCat("behind ", blocked_by,
                            " (all or nothing, by priority then age)");
    } else if (gang_size == 0) {
      reason = absl::StrCat("needs ", Needs(r), "; ", fit.size(), " of the ",
                            idle.size(), " idle workers match");
      blocked_by = job.id();
    }
    if (!reason.empty()) {
      if (job.pending_reason() != reason &&
          job.state() == pgan::v1::JOB_STATE_QUEUED) {
        job.set_pending_reason(reason);
        RETURN_IF_ERROR(store_->UpdateJob(job));
      }
      continue;
    }
    // Pack hosts: the hosts with the most matching workers first, so ranks
    // of a host are contiguous and few hosts are used.
    std::map<std::string, int> per_host;
    for (Worker* w : fit) ++per_host[w->info.host()];
    std::stable_sort(fit.begin(), fit.end(), [&](Worker* a, Worker* b) {
      if (per_host[a->info.host()] != per_host[b->info.host()]) {
        return per_host[a->info.host()] > per_host[b->info.host()];
      }
      return std::tie(a->info.host(), a->id) < std::tie(b->info.host(), b->id);
    });
    fit.resize(gang_size);
    ASSIGN_OR_RETURN(std::vector<pgan::v1::Snapshot> snapshots,
                     store_->Snapshots(job.id()));
    job.set_generation(job.generation() + 1);
    job.set_world_size(gang_size);
    job.set_state(pgan::v1::JOB_STATE_RUNNING);
    job.clear_pending_reason();
    job.clear_finished_workers();
    if (!job.has_started()) *job.mutable_started() = ToProto(now);
    RETURN_IF_ERROR(store_->UpdateJob(job));
    pgan::v1::Assignment assignment;
    assignment.set_job_id(job.id());
    assignment.set_generation(job.generation());
    *assignment.mutable_spec() = job.spec();
    assignment.set_world_size(gang_size);
    assignment.set_run_dir(RunDir(job));
    if (!snapshots.empty())
      assignment.set_resume_snapshot(snapshots.back().path());
    Gang& gang = gangs_[job.id()];
    gang = Gang{};
    gang.generation = job.generation();
    for (Worker* w : fit) {
      w->job_id = job.id();
      w->generation = job.generation();
      w->pending = HeartbeatResponse::ACTION_ASSIGN;
      w->assignment = assignment;
      w->started = false;
      gang.members.push_back(w->id);
      idle.erase(std::find(idle.begin(), idle.end(), w));
    }
    Log(absl::StrCat(
        "job ", job.id(), " generation ", job.generation(), " started on ",
        absl::StrJoin(gang.members, ", "),
        snapshots.empty()
            ? std::string(" from the start")
            : absl::StrCat(" from snapshot ", snapshots.back().path())));
  }
  return absl::OkStatus();
}

}  // namespace pgan::services
