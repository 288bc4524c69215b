#include "services/job_service.h"

#include <grpcpp/alarm.h>

#include <chrono>
#include <optional>
#include <utility>

#include "common/status_macros.h"
#include "proto/rpc.h"

namespace pgan::services {

using rpc::ToGrpc;

// One WatchJob call: listens for the next when it arrives, then writes
// the watch's events, polling it on an alarm between them. Runs on the
// loop's one thread. A client that has left is noticed at the next write;
// a stopping loop ends the call at the next alarm.
class AsyncWatch final : public AsyncOp {
 public:
  static void Listen(JobServiceImpl* service, CompletionLoop* loop) {
    new AsyncWatch(service, loop);
  }

  void Proceed(bool ok) override {
    switch (state_) {
      case State::kListening:
        if (!ok) return delete this;  // The server is shutting down.
        if (!loop_->stopping()) Listen(service_, loop_);
        if (absl::StatusOr<JobApi::JobWatch> watch = Start(); watch.ok()) {
          watch_.emplace(*std::move(watch));
          return Poll();
        } else {
          return Finish(ToGrpc(watch.status()));
        }
      case State::kWriting:
        if (!ok) return Finish(grpc::Status::CANCELLED);
        if (watch_->ended()) return Finish(grpc::Status::OK);
        return Arm();
      case State::kWaiting:
        if (loop_->stopping()) {
          return Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                     "the coordinator is shutting down"));
        }
        return Poll();
      case State::kFinishing:
        return delete this;
    }
  }

 private:
  enum class State { kListening, kWriting, kWaiting, kFinishing };

  AsyncWatch(JobServiceImpl* service, CompletionLoop* loop)
      : AsyncOp(loop), service_(service), writer_(&context_) {
    service_->RequestWatchJob(&context_, &request_, &writer_, loop->cq(),
                              loop->cq(), this);
  }

  absl::StatusOr<JobApi::JobWatch> Start() {
    ASSIGN_OR_RETURN(Principal caller, service_->Caller(&context_));
    return service_->api_.Watch(caller, request_);
  }
  void Poll() {
    absl::StatusOr<std::optional<pgan::v1::JobEvent>> next = watch_->Next();
    if (!next.ok()) return Finish(ToGrpc(next.status()));
    if (!next->has_value()) return Arm();
    event_ = **std::move(next);
    state_ = State::kWriting;
    writer_.Write(event_, this);
  }
  void Arm() {
    state_ = State::kWaiting;
    alarm_.Set(loop_->cq(),
               std::chrono::system_clock::now() +
                   absl::ToChronoMilliseconds(JobApi::kWatchPoll),
               this);
  }
  void Finish(const grpc::Status& status) {
    state_ = State::kFinishing;
    writer_.Finish(status, this);
  }

  JobServiceImpl* const service_;
  State state_ = State::kListening;
  grpc::ServerContext context_;
  pgan::v1::WatchJobRequest request_;
  grpc::ServerAsyncWriter<pgan::v1::JobEvent> writer_;
  std::optional<JobApi::JobWatch> watch_;
  pgan::v1::JobEvent event_;  // Being written.
  grpc::Alarm alarm_;
};

JobServiceImpl::JobServiceImpl(StateStore* store,
                               const TokenAuthenticator* auth, PathRoots roots,
                               Scheduler* scheduler,
                               CoordinatorMetrics* metrics)
    : auth_(auth),
      metrics_(metrics),
      api_(store, std::move(roots), scheduler) {}

absl::StatusOr<Principal> CallerOf(const TokenAuthenticator& auth,
                                   grpc::ServerContextBase* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return auth.AuthenticateHeader(std::nullopt);
  return auth.Authenticate(
      absl::string_view(it->second.data(), it->second.size()));
}

absl::StatusOr<Principal> JobServiceImpl::Caller(
    grpc::ServerContextBase* context) const {
  ASSIGN_OR_RETURN(Principal caller, CallerOf(*auth_, context));
  RETURN_IF_ERROR(CheckJobApiCaller(caller));
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

grpc::Status JobServiceImpl::ListSamples(
    grpc::ServerContext* context, const pgan::v1::ListSamplesRequest* request,
    pgan::v1::ListSamplesResponse* response) {
  PGAN_JOB_RPC("ListSamples", ListSamples);
}

grpc::Status JobServiceImpl::ListJobHistory(
    grpc::ServerContext* context,
    const pgan::v1::ListJobHistoryRequest* request,
    pgan::v1::ListJobHistoryResponse* response) {
  PGAN_JOB_RPC("ListJobHistory", ListJobHistory);
}

grpc::Status JobServiceImpl::ListWorkers(
    grpc::ServerContext* context, const pgan::v1::ListWorkersRequest* request,
    pgan::v1::ListWorkersResponse* response) {
  PGAN_JOB_RPC("ListWorkers", ListWorkers);
}

#undef PGAN_JOB_RPC

// Streams are not timed: they last as long as the client stays.
void JobServiceImpl::ServeWatches(CompletionLoop* loop) {
  AsyncWatch::Listen(this, loop);
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
