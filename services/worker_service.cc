#include "services/worker_service.h"

#include <utility>

#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "proto/rpc.h"
#include "services/job_service.h"
#include "services/metrics.h"

namespace pgan::services {
namespace {

using rpc::ToGrpc;

// The job a worker request is about (none for a registration).
template <typename Request>
const std::string& JobOf(const Request& request) {
  return request.job_id();
}
std::string JobOf(const pgan::v1::RegisterWorkerRequest&) { return ""; }

}  // namespace

WorkerServiceImpl::WorkerServiceImpl(Scheduler* scheduler,
                                     const TokenAuthenticator* auth,
                                     CoordinatorMetrics* metrics,
                                     bool require_client_certificate)
    : scheduler_(scheduler),
      auth_(auth),
      metrics_(metrics),
      require_client_certificate_(require_client_certificate) {}

absl::Status WorkerServiceImpl::CheckWorker(grpc::ServerContextBase* context,
                                            const std::string& worker_id,
                                            const std::string& job_id) const {
  if (require_client_certificate_) {
    // The TLS layer verified any certificate against the client CA; a
    // connection without one has no authenticated peer.
    const std::shared_ptr<const grpc::AuthContext> peer =
        context->auth_context();
    if (peer == nullptr || !peer->IsPeerAuthenticated()) {
      return absl::UnauthenticatedError(
          "the worker API needs a client certificate signed by the "
          "coordinator's client CA (mutual TLS)");
    }
  }
  ASSIGN_OR_RETURN(Principal caller, CallerOf(*auth_, context));
  if (caller.role == Principal::Role::kWorker) return absl::OkStatus();
  // Rank 0 of an attached mpirun gang reports with its owner's token.
  if (!caller.name.empty() &&
      scheduler_->AttachedOwner(worker_id, job_id) == caller.name) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError("the worker API needs a worker token");
}

#define PGAN_WORKER_RPC(call)                                          \
  if (absl::Status ok =                                                \
          CheckWorker(context, request->worker_id(), JobOf(*request)); \
      !ok.ok())                                                        \
    return ToGrpc(ok);                                                 \
  auto result = (call);                                                \
  if (!result.ok()) return ToGrpc(result.status());                    \
  *response = std::move(*result);                                      \
  return grpc::Status::OK

#define PGAN_WORKER_REPORT(call)                                       \
  if (absl::Status ok =                                                \
          CheckWorker(context, request->worker_id(), JobOf(*request)); \
      !ok.ok())                                                        \
    return ToGrpc(ok);                                                 \
  return ToGrpc(call)

grpc::Status WorkerServiceImpl::RegisterWorker(
    grpc::ServerContext* context,
    const pgan::v1::RegisterWorkerRequest* request,
    pgan::v1::RegisterWorkerResponse* response) {
  RpcTimer timer(metrics_, "RegisterWorker");
  PGAN_WORKER_RPC(scheduler_->Register(*request, absl::Now()));
}

grpc::Status WorkerServiceImpl::Heartbeat(
    grpc::ServerContext* context, const pgan::v1::HeartbeatRequest* request,
    pgan::v1::HeartbeatResponse* response) {
  RpcTimer timer(metrics_, "Heartbeat");
  PGAN_WORKER_RPC(scheduler_->Heartbeat(*request, absl::Now()));
}

void WorkerServiceImpl::ServeWaitingCalls(CompletionLoop* loop) {
  using pgan::v1::RendezvousRequest;
  using pgan::v1::RendezvousResponse;
  using pgan::v1::StoreGetRequest;
  using pgan::v1::StoreGetResponse;
  AsyncUnaryCall<WorkerServiceBase, RendezvousRequest, RendezvousResponse>::
      Listen(this, &WorkerServiceBase::RequestRendezvous, loop,
             [this](grpc::ServerContext* context,
                    const RendezvousRequest& request,
                    Scheduler::Done<RendezvousResponse> done) {
               if (absl::Status ok = CheckWorker(context, request.worker_id(),
                                                 request.job_id());
                   !ok.ok()) {
                 return done(ok);
               }
               scheduler_->Rendezvous(request, std::move(done));
             });
  AsyncUnaryCall<WorkerServiceBase, StoreGetRequest, StoreGetResponse>::Listen(
      this, &WorkerServiceBase::RequestStoreGet, loop,
      [this](grpc::ServerContext* context, const StoreGetRequest& request,
             Scheduler::Done<StoreGetResponse> done) {
        if (absl::Status ok =
                CheckWorker(context, request.worker_id(), request.job_id());
            !ok.ok()) {
          return done(ok);
        }
        scheduler_->StoreGet(request, std::move(done));
      });
}

grpc::Status WorkerServiceImpl::StoreSet(
    grpc::ServerContext* context, const pgan::v1::StoreSetRequest* request,
    pgan::v1::Ack*) {
  PGAN_WORKER_REPORT(scheduler_->StoreSet(*request));
}

grpc::Status WorkerServiceImpl::ReportTick(
    grpc::ServerContext* context, const pgan::v1::ReportTickRequest* request,
    pgan::v1::Ack*) {
  RpcTimer timer(metrics_, "ReportTick");
  PGAN_WORKER_REPORT(scheduler_->ReportTick(*request));
}

grpc::Status WorkerServiceImpl::ReportSnapshot(
    grpc::ServerContext* context,
    const pgan::v1::ReportSnapshotRequest* request, pgan::v1::Ack*) {
  RpcTimer timer(metrics_, "ReportSnapshot");
  PGAN_WORKER_REPORT(scheduler_->ReportSnapshot(*request));
}

grpc::Status WorkerServiceImpl::ReportExit(
    grpc::ServerContext* context, const pgan::v1::ReportExitRequest* request,
    pgan::v1::Ack*) {
  RpcTimer timer(metrics_, "ReportExit");
  PGAN_WORKER_REPORT(scheduler_->ReportExit(*request, absl::Now()));
}

#undef PGAN_WORKER_RPC
#undef PGAN_WORKER_REPORT

}  // namespace pgan::services
