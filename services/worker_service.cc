#include "services/worker_service.h"

#include <memory>
#include <mutex>
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

// A unary call answered later, from another thread, and finished exactly
// once: by its answer or by its cancellation (a client that gives up, or
// the server's shutdown), whichever comes first. Deletes itself when gRPC
// is done with the call.
template <typename Response>
class LaterReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit LaterReactor(Response* response)
      : call_(std::make_shared<Call>(this, response)) {}

  // Answers the call unless it has ended; safe to keep and to call after
  // the call has gone.
  Scheduler::Done<Response> Answer() const {
    return [call = call_](absl::StatusOr<Response> result) {
      std::lock_guard<std::mutex> lock(call->mu);
      if (call->reactor == nullptr) return;
      if (result.ok()) *call->response = *std::move(result);
      std::exchange(call->reactor, nullptr)
          ->Finish(result.ok() ? grpc::Status::OK : ToGrpc(result.status()));
    };
  }

  void OnCancel() override {
    const std::shared_ptr<Call> call = call_;  // Finish may delete `this`.
    std::lock_guard<std::mutex> lock(call->mu);
    if (call->reactor == nullptr) return;
    std::exchange(call->reactor, nullptr)
        ->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                              "the call was cancelled while it waited"));
  }
  void OnDone() override { delete this; }

 private:
  struct Call {
    Call(grpc::ServerUnaryReactor* r, Response* p) : reactor(r), response(p) {}
    std::mutex mu;
    grpc::ServerUnaryReactor* reactor;  // Null once finished.
    Response* response;                 // gRPC's, valid until finished.
  };
  std::shared_ptr<Call> call_;
};

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

grpc::ServerUnaryReactor* WorkerServiceImpl::Rendezvous(
    grpc::CallbackServerContext* context,
    const pgan::v1::RendezvousRequest* request,
    pgan::v1::RendezvousResponse* response) {
  auto* reactor = new LaterReactor<pgan::v1::RendezvousResponse>(response);
  if (absl::Status ok =
          CheckWorker(context, request->worker_id(), request->job_id());
      !ok.ok()) {
    reactor->Answer()(ok);
  } else {
    scheduler_->Rendezvous(*request, reactor->Answer());
  }
  return reactor;
}

grpc::Status WorkerServiceImpl::StoreSet(
    grpc::ServerContext* context, const pgan::v1::StoreSetRequest* request,
    pgan::v1::Ack*) {
  PGAN_WORKER_REPORT(scheduler_->StoreSet(*request));
}

grpc::ServerUnaryReactor* WorkerServiceImpl::StoreGet(
    grpc::CallbackServerContext* context,
    const pgan::v1::StoreGetRequest* request,
    pgan::v1::StoreGetResponse* response) {
  auto* reactor = new LaterReactor<pgan::v1::StoreGetResponse>(response);
  if (absl::Status ok =
          CheckWorker(context, request->worker_id(), request->job_id());
      !ok.ok()) {
    reactor->Answer()(ok);
  } else {
    scheduler_->StoreGet(*request, reactor->Answer());
  }
  return reactor;
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
