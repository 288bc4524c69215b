// An mpirun gang that reports to a coordinator as one job:
//
//   mpirun -np 8 pgan-worker --job job.json --coordinator coord:7470
//
// Rank 0 records the job with AttachJob under the user's token, heartbeats
// from a thread of its own (progress; a cancel comes back as an abort, which
// stops the gang at the next iteration with a snapshot), and reports ticks,
// snapshots and the exit like a pool gang. The coordinator does not
// schedule or restart it: mpirun owns the processes.
#ifndef PGAN_WORKER_ATTACHED_JOB_H_
#define PGAN_WORKER_ATTACHED_JOB_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/rpc.h"
#include "worker/coordinator_client.h"
#include "worker/job_spec.h"
#include "worker/reporting.h"

namespace pgan::worker {

class AttachedJob {
 public:
  // `stop` is set when the coordinator says the job was cancelled.
  static absl::StatusOr<std::unique_ptr<AttachedJob>> Start(
      const rpc::ChannelOptions& channel, const std::string& token,
      const pgan::v1::JobSpec& spec, const std::string& host,
      std::atomic<bool>* stop, std::ostream& log);
  // Stops heartbeating.
  ~AttachedJob();

  const std::string& job_id() const { return job_id_; }
  trainer::TrainingObserver* observer() { return observer_.get(); }

  // Sends what is queued, then the exit (each retried for up to
  // `patience` while the coordinator is away).
  void Finish(const absl::Status& status, absl::Duration patience);

 private:
  AttachedJob() = default;
  void Heartbeats();

  std::unique_ptr<CoordinatorClient> client_;
  std::string worker_id_, job_id_;
  absl::Duration interval_;
  std::atomic<bool>* stop_ = nullptr;
  std::ostream* log_ = nullptr;
  std::unique_ptr<Reporter> reporter_;
  std::unique_ptr<ReportingObserver> observer_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::thread heartbeats_;
};

}  // namespace pgan::worker

#endif  // PGAN_WORKER_ATTACHED_JOB_H_
