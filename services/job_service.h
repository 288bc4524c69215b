// The user-facing gRPC service (pgan.v1.JobService): authenticates each
// call (bearer token; worker tokens are refused), times it, and hands it
// to JobApi (job_api.h), which holds the rules. Thread-safe (gRPC calls it
// from many threads).
#ifndef PGAN_SERVICES_JOB_SERVICE_H_
#define PGAN_SERVICES_JOB_SERVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "pgan/v1/job.grpc.pb.h"
#include "services/auth.h"
#include "services/completion_loop.h"
#include "services/job_api.h"
#include "services/metrics.h"

namespace pgan::services {

// WatchJob, which lasts as long as the job, is served on gRPC's async API
// (completion_loop.h): a watch polls on a timer and holds no thread.
using JobServiceBase = pgan::v1::JobService::WithAsyncMethod_WatchJob<
    pgan::v1::JobService::Service>;

class JobServiceImpl final : public JobServiceBase {
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
  // Serves WatchJob on `loop` (its queue is the server's).
  void ServeWatches(CompletionLoop* loop);
  grpc::Status DownloadSnapshot(
      grpc::ServerContext* context,
      const pgan::v1::DownloadSnapshotRequest* request,
      grpc::ServerWriter<pgan::v1::DataChunk>* writer) override;
  grpc::Status GetSamples(grpc::ServerContext* context,
                          const pgan::v1::GetSamplesRequest* request,
                          pgan::v1::Samples* response) override;
  grpc::Status ListSamples(grpc::ServerContext* context,
                           const pgan::v1::ListSamplesRequest* request,
                           pgan::v1::ListSamplesResponse* response) override;
  grpc::Status ListJobHistory(
      grpc::ServerContext* context,
      const pgan::v1::ListJobHistoryRequest* request,
      pgan::v1::ListJobHistoryResponse* response) override;
  grpc::Status ListWorkers(grpc::ServerContext* context,
                           const pgan::v1::ListWorkersRequest* request,
                           pgan::v1::ListWorkersResponse* response) override;

 private:
  // A user or admin principal (UNAUTHENTICATED, PERMISSION_DENIED for a
  // worker token).
  absl::StatusOr<Principal> Caller(grpc::ServerContextBase* context) const;

  friend class AsyncWatch;
  const TokenAuthenticator* auth_;
  CoordinatorMetrics* metrics_;
  JobApi api_;
};

// Who calls: the principal of the call's "authorization" metadata
// (UNAUTHENTICATED without one or for an unknown token).
absl::StatusOr<Principal> CallerOf(const TokenAuthenticator& auth,
                                   grpc::ServerContextBase* context);

}  // namespace pgan::services

#endif  // PGAN_SERVICES_JOB_SERVICE_H_
