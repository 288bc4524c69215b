// A pool worker's calls to the coordinator's WorkerService, authenticated
// with the worker token, each under a deadline; and the gang's key-value
// store over StoreSet/StoreGet for the Gloo rendezvous. Thread-safe.
#ifndef PGAN_WORKER_COORDINATOR_CLIENT_H_
#define PGAN_WORKER_COORDINATOR_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pgan/v1/job.grpc.pb.h"
#include "pgan/v1/worker.grpc.pb.h"
#include "proto/rpc.h"
#include "worker/key_value_store.h"
#include "worker/task_pipe.h"

namespace pgan::worker {

class CoordinatorClient {
 public:
  static absl::StatusOr<std::unique_ptr<CoordinatorClient>> Create(
      const rpc::ChannelOptions& channel, const std::string& token);

  // JobService.AttachJob (the token is then a user's).
  absl::StatusOr<pgan::v1::AttachJobResponse> Attach(
      const pgan::v1::AttachJobRequest& request);
  absl::StatusOr<pgan::v1::RegisterWorkerResponse> Register(
      const pgan::v1::RegisterWorkerRequest& request);
  absl::StatusOr<pgan::v1::HeartbeatResponse> Heartbeat(
      const pgan::v1::HeartbeatRequest& request);
  // Waits for the whole gang, up to `wait`.
  absl::StatusOr<pgan::v1::RendezvousResponse> Rendezvous(
      const pgan::v1::RendezvousRequest& request, absl::Duration wait);
  absl::Status StoreSet(const pgan::v1::StoreSetRequest& request);
  absl::StatusOr<pgan::v1::StoreGetResponse> StoreGet(
      const pgan::v1::StoreGetRequest& request);
  absl::Status ReportTick(const pgan::v1::ReportTickRequest& request);
  absl::Status ReportSnapshot(const pgan::v1::ReportSnapshotRequest& request);
  absl::Status ReportExit(const pgan::v1::ReportExitRequest& request);
  // The Report* call of the report's kind.
  absl::Status Report(const TaskReport& report);

 private:
  CoordinatorClient(std::shared_ptr<grpc::Channel> channel, std::string token);
  std::unique_ptr<grpc::ClientContext> Context(absl::Duration deadline) const;

  std::unique_ptr<pgan::v1::WorkerService::Stub> stub_;
  std::unique_ptr<pgan::v1::JobService::Stub> jobs_;
  const std::string token_;
};

// Whether a report that failed with `status` is worth sending again: the
// coordinator is away, restarting, overloaded or has not re-adopted the
// worker yet. OK and refusals for good (a stale or ended gang) are not.
bool ShouldResend(const absl::Status& status);

// Whether a call that failed with `status` is worth making again after a
// wait: the coordinator is away, restarting or shedding load
// (RESOURCE_EXHAUSTED).
bool ShouldRetry(const absl::Status& status);

// `wait` spread by +-25% at random: workers that start or reconnect
// together (after a coordinator restart, say) then call at different
// moments instead of in a storm.
absl::Duration Jittered(absl::Duration wait);

// The store of one generation of one job, as a member of its gang.
class CoordinatorStore final : public comm::KeyValueStore {
 public:
  CoordinatorStore(CoordinatorClient* client, std::string worker_id,
                   std::string job_id, int64_t generation);
  absl::Status Set(const std::string& key, const std::string& value) override;
  absl::StatusOr<std::string> Get(const std::string& key,
                                  absl::Duration timeout) override;

 private:
  CoordinatorClient* client_;
  const std::string worker_id_, job_id_;
  const int64_t generation_;
};

}  // namespace pgan::worker

#endif  // PGAN_WORKER_COORDINATOR_CLIENT_H_
