#include "services/job_service.h"

#include <utility>

#include "common/status_macros.h"
#include "proto/rpc.h"

namespace pgan::services {

using rpc::ToGrpc;

JobServiceImpl::JobServiceImpl(StateStore* store,
                               const TokenAuthenticator* auth, PathRoots roots,
                               Scheduler* scheduler,
                               CoordinatorMetrics* metrics)
    : auth_(auth),
      metrics_(metrics),
      api_(store, std::move(roots), scheduler) {}

absl::StatusOr<Principal> CallerOf(const TokenAuthenticator& auth,
                                   grpc::ServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "no credentials: send \"authorization: Bearer <token>\" (pgan: "
        "--token or PGAN_TOKEN)");
  }
  return auth.Authenticate(
      absl::string_view(it->second.data(), it->second.size()));
}

absl::StatusOr<Principal> JobServiceImpl::Caller(
    grpc::ServerContext* context) const {
  ASSIGN_OR_RETURN(Principal caller, CallerOf(*auth_, context));
  if (caller.role == Principal::Role::kWorker) {
    return absl::PermissionDeniedError("a worker token cannot use the job API");
  }
  return caller;
}

// A unary call: the caller, then JobApi's answer as the response.
#define PGAN_JOB_RPC(name, method)                    \
  RpcTimer timer(metrics_, name);                     \
  absl::StatusOr<Principal> caller = Caller(context); \
  if (!caller.ok()) return ToGrpc(caller.status());   \
  auto result = api_.method(*caller, *request);       \
  if (!result.ok()) return ToGrpc(result.status());   \
  *response = std::move(*result);                     \
  return grpc::Status::OK

grpc::Status JobServiceImpl::SubmitJob(
    grpc::ServerContext* context, const pgan::v1::SubmitJobRequest* request,
    pgan::v1::Job* response) {
  PGAN_JOB_RPC("SubmitJob", Submit);
}

grpc::Status JobServiceImpl::AttachJob(
    grpc::ServerContext* context, const pgan::v1::AttachJobRequest* request,
    pgan::v1::AttachJobResponse* response) {
  PGAN_JOB_RPC("AttachJob", Attach);
}

grpc::Status JobServiceImpl::GetJob(grpc::ServerContext* context,
                                    const pgan::v1::GetJobRequest* request,
                                    pgan::v1::Job* response) {
  PGAN_JOB_RPC("GetJob", Get);
}

grpc::Status JobServiceImpl::ListJobs(grpc::ServerContext* context,
                                      const pgan::v1::ListJobsRequest* request,
                                      pgan::v1::ListJobsResponse* response) {
  PGAN_JOB_RPC("ListJobs", List);
}

grpc::Status JobServiceImpl::CancelJob(
    grpc::ServerContext* context, const pgan::v1::CancelJobRequest* request,
    pgan::v1::Job* response) {
  PGAN_JOB_RPC("CancelJob", Cancel);
}

grpc::Status JobServiceImpl::ListSnapshots(
    grpc::ServerContext* context, const pgan::v1::ListSnapshotsRequest* request,
    pgan::v1::ListSnapshotsResponse* response) {
  PGAN_JOB_RPC("ListSnapshots", ListSnapshots);
}

grpc::Status JobServiceImpl::ListTicks(
    grpc::ServerContext* context, const pgan::v1::ListTicksRequest* request,
    pgan::v1::ListTicksResponse* response) {
  PGAN_JOB_RPC("ListTicks", ListTicks);
}

grpc::Status JobServiceImpl::GetSamples(
    grpc::ServerContext* context, const pgan::v1::GetSamplesRequest* request,
    pgan::v1::Samples* response) {
  PGAN_JOB_RPC("GetSamples", GetSamples);
}

grpc::Status JobServiceImpl::ListWorkers(
    grpc::ServerContext* context, const pgan::v1::ListWorkersRequest* request,
    pgan::v1::ListWorkersResponse* response) {
  PGAN_JOB_RPC("ListWorkers", ListWorkers);
}

#undef PGAN_JOB_RPC

// Streams are not timed: they last as long as the client stays.
grpc::Status JobServiceImpl::WatchJob(
    grpc::ServerContext* context, const pgan::v1::WatchJobRequest* request,
    grpc::ServerWriter<pgan::v1::JobEvent>* writer) {
  absl::StatusOr<Principal> caller = Caller(context);
  if (!caller.ok()) return ToGrpc(caller.status());
  return ToGrpc(api_.Watch(
      *caller, *request,
      [writer](const pgan::v1::JobEvent& e) { return writer->Write(e); },
      [context] { return context->IsCancelled(); }));
}

grpc::Status JobServiceImpl::DownloadSnapshot(
    grpc::ServerContext* context,
    const pgan::v1::DownloadSnapshotRequest* request,
    grpc::ServerWriter<pgan::v1::DataChunk>* writer) {
  absl::StatusOr<Principal> caller = Caller(context);
  if (!caller.ok()) return ToGrpc(caller.status());
  return ToGrpc(api_.Download(
      *caller, *request,
      [writer](const pgan::v1::DataChunk& c) { return writer->Write(c); },
      [context] { return context->IsCancelled(); }));
}

}  // namespace pgan::services
