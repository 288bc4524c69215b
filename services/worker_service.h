// pgan.v1.WorkerService over the Scheduler: worker-token callers only.
// Rendezvous and StoreGet, which wait for the rest of a gang, are served
// on gRPC's async API (completion_loop.h) and park in the scheduler: a
// waiting call holds no thread.
// Thread-safe.
#ifndef PGAN_SERVICES_WORKER_SERVICE_H_
#define PGAN_SERVICES_WORKER_SERVICE_H_

#include "pgan/v1/worker.grpc.pb.h"
#include "services/auth.h"
#include "services/completion_loop.h"
#include "services/metrics.h"
#include "services/scheduler.h"

namespace pgan::services {

using WorkerServiceBase =
    pgan::v1::WorkerService::WithAsyncMethod_Rendezvous<
        pgan::v1::WorkerService::WithAsyncMethod_StoreGet<
            pgan::v1::WorkerService::Service>>;

class WorkerServiceImpl final : public WorkerServiceBase {
 public:
  // Not owned; must outlive the service. With
  // `require_client_certificate` (mutual TLS), a call without a verified
  // client certificate is UNAUTHENTICATED even with the worker token.
  WorkerServiceImpl(Scheduler* scheduler, const TokenAuthenticator* auth,
                    CoordinatorMetrics* metrics = nullptr,
                    bool require_client_certificate = false);

  grpc::Status RegisterWorker(
      grpc::ServerContext* context,
      const pgan::v1::RegisterWorkerRequest* request,
      pgan::v1::RegisterWorkerResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context,
                         const pgan::v1::HeartbeatRequest* request,
                         pgan::v1::HeartbeatResponse* response) override;
  // Serves Rendezvous and StoreGet on `loop` (its queue is the server's).
  void ServeWaitingCalls(CompletionLoop* loop);
  grpc::Status StoreSet(grpc::ServerContext* context,
                        const pgan::v1::StoreSetRequest* request,
                        pgan::v1::Ack* response) override;
  grpc::Status ReportTick(grpc::ServerContext* context,
                          const pgan::v1::ReportTickRequest* request,
                          pgan::v1::Ack* response) override;
  grpc::Status ReportSnapshot(grpc::ServerContext* context,
                              const pgan::v1::ReportSnapshotRequest* request,
                              pgan::v1::Ack* response) override;
  grpc::Status ReportExit(grpc::ServerContext* context,
                          const pgan::v1::ReportExitRequest* request,
                          pgan::v1::Ack* response) override;

 private:
  // A worker token, or the owner's token for the stand-in of an attached
  // gang ("attached-<job id>") of `job_id`.
  absl::Status CheckWorker(grpc::ServerContextBase* context,
                           const std::string& worker_id,
                           const std::string& job_id) const;

  Scheduler* scheduler_;
  const TokenAuthenticator* auth_;
  CoordinatorMetrics* metrics_;
  bool require_client_certificate_;
};

}  // namespace pgan::services

#endif  // PGAN_SERVICES_WORKER_SERVICE_H_
