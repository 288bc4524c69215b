#include "worker/coordinator_client.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <variant>

#include "absl/strings/str_cat.h"

namespace pgan::worker {
namespace {

// Short calls (heartbeats, reports) give up after this: a coordinator that
// does not answer is treated as down, and the caller retries later.
constexpr absl::Duration kCallDeadline = absl::Seconds(10);

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Create(
    const rpc::ChannelOptions& channel, const std::string& token) {
  if (token.empty()) {
    return absl::InvalidArgumentError(
        "no worker token: give --token-file or set PGAN_TOKEN");
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> made =
      rpc::MakeChannel(channel);
  if (!made.ok()) return made.status();
  return std::unique_ptr<CoordinatorClient>(
      new CoordinatorClient(std::move(*made), token));
}

CoordinatorClient::CoordinatorClient(std::shared_ptr<grpc::Channel> channel,
                                     std::string token)
    : stub_(pgan::v1::WorkerService::NewStub(channel)),
      jobs_(pgan::v1::JobService::NewStub(channel)),
      token_(std::move(token)) {}

std::unique_ptr<grpc::ClientContext> CoordinatorClient::Context(
    absl::Duration deadline) const {
  auto context = std::make_unique<grpc::ClientContext>();
  rpc::Authorize(context.get(), token_);
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(deadline));
  return context;
}

#define PGAN_CALL(method, deadline, request, response) \
  rpc::FromGrpc(stub_->method(Context(deadline).get(), request, response))

absl::StatusOr<pgan::v1::AttachJobResponse> CoordinatorClient::Attach(
    const pgan::v1::AttachJobRequest& request) {
  pgan::v1::AttachJobResponse response;
  absl::Status status = rpc::FromGrpc(
      jobs_->AttachJob(Context(kCallDeadline).get(), request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<pgan::v1::RegisterWorkerResponse> CoordinatorClient::Register(
    const pgan::v1::RegisterWorkerRequest& request) {
  pgan::v1::RegisterWorkerResponse response;
  absl::Status status =
      PGAN_CALL(RegisterWorker, kCallDeadline, request, &response);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<pgan::v1::HeartbeatResponse> CoordinatorClient::Heartbeat(
    const pgan::v1::HeartbeatRequest& request) {
  pgan::v1::HeartbeatResponse response;
  absl::Status status = PGAN_CALL(Heartbeat, kCallDeadline, request, &response);
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<pgan::v1::RendezvousResponse> CoordinatorClient::Rendezvous(
    const pgan::v1::RendezvousRequest& request, absl::Duration wait) {
  pgan::v1::RendezvousResponse response;
  absl::Status status = PGAN_CALL(Rendezvous, wait, request, &response);
  if (!status.ok()) return status;
  return response;
}

absl::Status CoordinatorClient::StoreSet(
    const pgan::v1::StoreSetRequest& request) {
  pgan::v1::Ack ack;
  return PGAN_CALL(StoreSet, kCallDeadline, request, &ack);
}

absl::StatusOr<pgan::v1::StoreGetResponse> CoordinatorClient::StoreGet(
    const pgan::v1::StoreGetRequest& request) {
  pgan::v1::StoreGetResponse response;
  absl::Status status =
      PGAN_CALL(StoreGet, absl::Milliseconds(request.wait_ms()) + kCallDeadline,
                request, &response);
  if (!status.ok()) return status;
  return response;
}

absl::Status CoordinatorClient::ReportTick(
    const pgan::v1::ReportTickRequest& request) {
  pgan::v1::Ack ack;
  return PGAN_CALL(ReportTick, kCallDeadline, request, &ack);
}

absl::Status CoordinatorClient::ReportSnapshot(
    const pgan::v1::ReportSnapshotRequest& request) {
  pgan::v1::Ack ack;
  return PGAN_CALL(ReportSnapshot, kCallDeadline, request, &ack);
}

absl::Status CoordinatorClient::Report(const TaskReport& report) {
  struct Visitor {
    CoordinatorClient* client;
    absl::Status operator()(const pgan::v1::ReportTickRequest& r) {
      return client->ReportTick(r);
    }
    absl::Status operator()(const pgan::v1::ReportSnapshotRequest& r) {
      return client->ReportSnapshot(r);
    }
    absl::Status operator()(const pgan::v1::ReportExitRequest& r) {
      return client->ReportExit(r);
    }
  };
  return std::visit(Visitor{this}, report);
}

bool ShouldResend(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

bool ShouldRetry(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded ||
         status.code() == absl::StatusCode::kResourceExhausted;
}

absl::Duration Jittered(absl::Duration wait) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return wait * std::uniform_real_distribution<double>(0.75, 1.25)(random);
}

absl::Status CoordinatorClient::ReportExit(
    const pgan::v1::ReportExitRequest& request) {
  pgan::v1::Ack ack;
  return PGAN_CALL(ReportExit, kCallDeadline, request, &ack);
}

#undef PGAN_CALL

CoordinatorStore::CoordinatorStore(CoordinatorClient* client,
                                   std::string worker_id, std::string job_id,
                                   int64_t generation)
    : client_(client),
      worker_id_(std::move(worker_id)),
      job_id_(std::move(job_id)),
      generation_(generation) {}

absl::Status CoordinatorStore::Set(const std::string& key,
                                   const std::string& value) {
  pgan::v1::StoreSetRequest request;
  request.set_worker_id(worker_id_);
  request.set_job_id(job_id_);
  request.set_generation(generation_);
  request.set_key(key);
  request.set_value(value);
  return client_->StoreSet(request);
}

absl::StatusOr<std::string> CoordinatorStore::Get(const std::string& key,
                                                  absl::Duration timeout) {
  // The coordinator waits at most a minute per call.
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    pgan::v1::StoreGetRequest request;
    request.set_worker_id(worker_id_);
    request.set_job_id(job_id_);
    request.set_generation(generation_);
    request.set_key(key);
    request.set_wait_ms(static_cast<int32_t>(
        std::clamp<int64_t>(absl::ToInt64Milliseconds(left), 0, 60000)));
    absl::StatusOr<pgan::v1::StoreGetResponse> response =
        client_->StoreGet(request);
    if (response.ok()) return response->value();
    if (response.status().code() != absl::StatusCode::kDeadlineExceeded ||
        absl::Now() >= deadline) {
      return response.status();
    }
  }
}

}  // namespace pgan::worker
