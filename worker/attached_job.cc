#include "worker/attached_job.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "worker/pool_task.h"

namespace pgan::worker {

absl::StatusOr<std::unique_ptr<AttachedJob>> AttachedJob::Start(
    const rpc::ChannelOptions& channel, const std::string& token,
    const pgan::v1::JobSpec& spec, const std::string& host,
    std::atomic<bool>* stop, std::ostream& log) {
  absl::StatusOr<std::unique_ptr<CoordinatorClient>> client =
      CoordinatorClient::Create(channel, token);
  if (!client.ok()) return client.status();
  pgan::v1::AttachJobRequest request;
  *request.mutable_spec() = spec;
  request.set_host(host);
  absl::StatusOr<pgan::v1::AttachJobResponse> attached =
      (*client)->Attach(request);
  if (!attached.ok()) {
    return absl::Status(
        attached.status().code(),
        absl::StrCat("attaching to the coordinator ", channel.address, ": ",
                     attached.status().message()));
  }
  std::unique_ptr<AttachedJob> job(new AttachedJob());
  job->client_ = std::move(*client);
  job->worker_id_ = attached->worker_id();
  job->job_id_ = attached->job().id();
  job->interval_ =
      absl::Milliseconds(std::max(100, attached->heartbeat_interval_ms()));
  job->stop_ = stop;
  job->log_ = &log;
  job->reporter_ = std::make_unique<Reporter>(
      SendToCoordinator(job->client_.get()));
  job->observer_ = std::make_unique<ReportingObserver>(
      job->reporter_.get(), job->worker_id_, job->job_id_, /*generation=*/1);
  AttachedJob* raw = job.get();
  job->heartbeats_ = std::thread([raw] { raw->Heartbeats(); });
  log << "Attached to " << channel.address << " as job " << job->job_id_
      << std::endl;
  return job;
}

AttachedJob::~AttachedJob() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (heartbeats_.joinable()) heartbeats_.join();
}

void AttachedJob::Heartbeats() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!changed_.wait_for(lock, absl::ToChronoNanoseconds(interval_),
                            [&] { return stopping_; })) {
    lock.unlock();
    pgan::v1::HeartbeatRequest beat;
    beat.set_worker_id(worker_id_);
    beat.set_job_id(job_id_);
    beat.set_generation(1);
    beat.set_iteration(observer_->iteration());
    beat.set_cur_nimg(observer_->cur_nimg());
    absl::StatusOr<pgan::v1::HeartbeatResponse> response =
        client_->Heartbeat(beat);
    if (response.ok() &&
        response->action() == pgan::v1::HeartbeatResponse::ACTION_ABORT &&
        !stop_->exchange(true)) {
      *log_ << "The coordinator stops job " << job_id_ << ": "
            << response->reason() << std::endl;
    }
    lock.lock();
  }
}

void AttachedJob::Finish(const absl::Status& status, absl::Duration patience) {
  const absl::Time deadline = absl::Now() + patience;
  if (!reporter_->Drain(patience)) {
    *log_ << "pgan-worker: the coordinator did not take the last reports"
          << std::endl;
  }
  pgan::v1::ReportExitRequest exit;
  exit.set_worker_id(worker_id_);
  exit.set_job_id(job_id_);
  exit.set_generation(1);
  if (!status.ok()) {
    exit.set_exit_code(1);
    exit.set_reason(std::string(status.message()));
    exit.set_retryable(IsRetryable(status));
  }
  while (true) {
    const absl::Status sent = client_->ReportExit(exit);
    if (sent.ok() || absl::Now() >= deadline) break;
    absl::SleepFor(absl::Seconds(1));
  }
}

}  // namespace pgan::worker
