// The user-facing gRPC service (pgan.v1.JobService) over the coordinator's
// state store: every call is authenticated (bearer token), every request
// validated; users see and cancel their own jobs only (others' are
// NOT_FOUND, so ids do not leak), admins all. Submitting and cancelling go
// through the Scheduler; ListWorkers shows the Scheduler's pool. Thread-safe
// (gRPC calls it from many threads).
#ifndef PGAN_SERVICES_JOB_SERVICE_H_
#define PGAN_SERVICES_JOB_SERVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "pgan/v1/job.grpc.pb.h"
#include "services/auth.h"
#include "services/job_spec_validation.h"
#include "services/metrics.h"
#include "services/scheduler.h"
#include "services/state_store.h"

namespace pgan::services {

// Requests larger than this are refused with RESOURCE_EXHAUSTED.
inline constexpr int kMaxRequestBytes = 4 << 20;

class JobServiceImpl final : public pgan::v1::JobService::Service {
 public:
  // Not owned; must outlive the service. `metrics` may be null.
  JobServiceImpl(StateStore* store, const TokenAuthenticator* auth,
                 PathRoots roots, Scheduler* scheduler,
                 CoordinatorMetrics* metrics = nullptr);

  grpc::Status SubmitJob(grpc::ServerContext* context,
                         const pgan::v1::SubmitJobRequest* request,
                         pgan::v1::Job* response) override;
  grpc::Status AttachJob(grpc::ServerContext* context,
                         const pgan::v1::AttachJobRequest* request,
                         pgan::v1::AttachJobResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context,
                      const pgan::v1::GetJobRequest* request,
                      pgan::v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context,
                        const pgan::v1::ListJobsRequest* request,
                        pgan::v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context,
                         const pgan::v1::CancelJobRequest* request,
                         pgan::v1::Job* response) override;
  grpc::Status ListTicks(grpc::ServerContext* context,
                         const pgan::v1::ListTicksRequest* request,
                         pgan::v1::ListTicksResponse* response) override;
  grpc::Status ListSnapshots(
      grpc::ServerContext* context,
      const pgan::v1::ListSnapshotsRequest* request,
      pgan::v1::ListSnapshotsResponse* response) override;
  // The job as it is, then every change of state or new tick (polled from
  // the store twice a second), until the job ends or the client leaves.
  grpc::Status WatchJob(
      grpc::ServerContext* context, const pgan::v1::WatchJobRequest* request,
      grpc::ServerWriter<pgan::v1::JobEvent>* writer) override;
  // A recorded snapshot's file in 1 MiB chunks.
  grpc::Status DownloadSnapshot(
      grpc::ServerContext* context,
      const pgan::v1::DownloadSnapshotRequest* request,
      grpc::ServerWriter<pgan::v1::DataChunk>* writer) override;
  // The newest fakes*.png of the job's run directories (its assigned run
  // dir, the trainer's run dirs inside it, and the directories of its
  // recorded snapshots), only from under the output roots.
  grpc::Status GetSamples(grpc::ServerContext* context,
                          const pgan::v1::GetSamplesRequest* request,
                          pgan::v1::Samples* response) override;
  grpc::Status ListWorkers(grpc::ServerContext* context,
                           const pgan::v1::ListWorkersRequest* request,
                           pgan::v1::ListWorkersResponse* response) override;

 private:
  absl::StatusOr<Principal> Caller(grpc::ServerContext* context) const;
  // A job of the caller from a validated `spec` (null: INVALID_ARGUMENT),
  // with its submission time; no id or state yet.
  absl::StatusOr<pgan::v1::Job> NewJob(grpc::ServerContext* context,
                                       const pgan::v1::JobSpec* spec) const;
  // The job `id` (request field `field`) if `caller` may see it, else
  // NOT_FOUND.
  absl::StatusOr<pgan::v1::Job> VisibleJob(const Principal& caller,
                                           const std::string& field,
                                           const std::string& id);

  StateStore* store_;
  const TokenAuthenticator* auth_;
  const PathRoots roots_;
  Scheduler* scheduler_;
  CoordinatorMetrics* metrics_;
};

// Who calls: the principal of the call's "authorization" metadata
// (UNAUTHENTICATED without one or for an unknown token).
absl::StatusOr<Principal> CallerOf(const TokenAuthenticator& auth,
                                   grpc::ServerContext* context);

// absl::Status and grpc::Status share their codes.
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace pgan::services

#endif  // PGAN_SERVICES_JOB_SERVICE_H_
