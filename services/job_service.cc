#include "services/job_service.h"

#include <grpcpp/alarm.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <utility>

#include "common/status_macros.h"
#include "proto/rpc.h"

namespace pgan::services {

using rpc::ToGrpc;

namespace {

// A WatchJob stream: polls its watch on a timer (gRPC's alarm) and writes
// what changed, one event at a time. Exactly one of the alarm and a write
// is pending until it finishes; a cancelled call (the client left, or the
// server shuts down) ends at the next of them. Deletes itself when gRPC is
// done with the call.
class WatchReactor final : public grpc::ServerWriteReactor<pgan::v1::JobEvent> {
 public:
  explicit WatchReactor(absl::StatusOr<JobApi::JobWatch> watch) {
    if (!watch.ok()) {
      Finish(ToGrpc(watch.status()));
      return;
    }
    watch_.emplace(*std::move(watch));
    Poll();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status::CANCELLED);
    if (watch_->ended()) return Finish(grpc::Status::OK);
    Arm();
  }
  void OnCancel() override {
    bool armed = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      armed = armed_;
    }
    // Its callback then runs with ok false; outside the lock, which the
    // callback takes.
    if (armed) alarm_.Cancel();
  }
  void OnDone() override { delete this; }

 private:
  // Writes the next event, or waits for one.
  void Poll() {
    absl::StatusOr<std::optional<pgan::v1::JobEvent>> next = watch_->Next();
    if (!next.ok()) return Finish(ToGrpc(next.status()));
    if (!next->has_value()) return Arm();
    event_ = **std::move(next);
    StartWrite(&event_);
  }
  void Arm() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!cancelled_) {
        armed_ = true;
        alarm_.Set(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(JobApi::kWatchPoll),
                   [this](bool ok) { OnAlarm(ok); });
        return;
      }
    }
    Finish(grpc::Status::CANCELLED);  // Never under the lock: it may end us.
  }
  void OnAlarm(bool ok) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      armed_ = false;
    }
    if (!ok) return Finish(grpc::Status::CANCELLED);
    Poll();
  }

  std::optional<JobApi::JobWatch> watch_;
  pgan::v1::JobEvent event_;  // Being written.
  std::mutex mu_;             // Orders OnCancel against the alarm.
  bool cancelled_ = false;
  bool armed_ = false;
  grpc::Alarm alarm_;
};

}  // namespace

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
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "no credentials: send \"authorization: Bearer <token>\" (pgan: "
        "--token or PGAN_TOKEN)");
  }
  return auth.Authenticate(
      absl::string_view(it->second.data(), it->second.size()));
}

absl::StatusOr<Principal> JobServiceImpl::Caller(
    grpc::ServerContextBase* context) const {
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
grpc::ServerWriteReactor<pgan::v1::JobEvent>* JobServiceImpl::WatchJob(
    grpc::CallbackServerContext* context,
    const pgan::v1::WatchJobRequest* request) {
  absl::StatusOr<JobApi::JobWatch> watch = [&] {
    absl::StatusOr<Principal> caller = Caller(context);
    if (!caller.ok()) return absl::StatusOr<JobApi::JobWatch>(caller.status());
    return api_.Watch(*caller, *request);
  }();
  return new WatchReactor(std::move(watch));
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
