#include "services/job_service.h"

#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "services/metrics.h"

namespace pgan::services {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr size_t kChunkBytes = 1 << 20;
constexpr auto kWatchPoll = std::chrono::milliseconds(500);

// 64 random bits as "job-<16 hex digits>".
std::string NewJobId() {
  static std::mutex mu;
  static std::mt19937_64 engine{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  return absl::StrFormat("job-%016x", engine());
}

bool Terminal(pgan::v1::JobState state) {
  return state == pgan::v1::JOB_STATE_SUCCEEDED ||
         state == pgan::v1::JOB_STATE_FAILED ||
         state == pgan::v1::JOB_STATE_CANCELLED;
}

absl::Status ValidateId(const std::string& field, const std::string& id) {
  if (id.empty() || id.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected a job id"));
  }
  return absl::OkStatus();
}

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

JobServiceImpl::JobServiceImpl(StateStore* store,
                               const TokenAuthenticator* auth, PathRoots roots,
                               Scheduler* scheduler,
                               CoordinatorMetrics* metrics)
    : store_(store),
      auth_(auth),
      roots_(std::move(roots)),
      scheduler_(scheduler),
      metrics_(metrics) {}

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

absl::StatusOr<pgan::v1::Job> JobServiceImpl::VisibleJob(
    const Principal& caller, const std::string& field, const std::string& id) {
  RETURN_IF_ERROR(ValidateId(field, id));
  absl::StatusOr<StoredJob> stored = store_->GetJob(id);
  if (absl::IsNotFound(stored.status()) ||
      (stored.ok() && !CanSeeJob(caller, stored->job.owner()))) {
    return absl::NotFoundError(absl::StrCat("no job ", id));
  }
  RETURN_IF_ERROR(stored.status());
  return std::move(stored->job);
}

grpc::Status JobServiceImpl::SubmitJob(
    grpc::ServerContext* context, const pgan::v1::SubmitJobRequest* request,
    pgan::v1::Job* response) {
  RpcTimer timer(metrics_, "SubmitJob");
  absl::StatusOr<Principal> caller = Caller(context);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (!request->has_spec())
    return ToGrpc(absl::InvalidArgumentError("spec: required"));
  if (absl::Status valid = ValidateJobSpec(request->spec(), roots_);
      !valid.ok()) {
    return ToGrpc(valid);
  }
  pgan::v1::Job job;
  *job.mutable_spec() = request->spec();
  job.set_owner(caller->name);
  job.set_state(pgan::v1::JOB_STATE_QUEUED);
  job.set_pending_reason("waiting for the scheduler");
  *job.mutable_submitted() = TimeUtil::GetCurrentTime();
  for (int attempt = 0;; ++attempt) {
    job.set_id(NewJobId());
    absl::StatusOr<int64_t> inserted = store_->InsertJob(job);
    if (inserted.ok()) break;
    if (!absl::IsAlreadyExists(inserted.status()) || attempt == 3) {
      return ToGrpc(inserted.status());
    }
  }
  if (absl::Status scheduled = scheduler_->Schedule(absl::Now());
      !scheduled.ok()) {
    return ToGrpc(scheduled);
  }
  absl::StatusOr<StoredJob> now = store_->GetJob(job.id());
  if (now.ok()) job = std::move(now->job);
  *response = std::move(job);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::GetJob(grpc::ServerContext* context,
                                    const pgan::v1::GetJobRequest* request,
                                    pgan::v1::Job* response) {
  RpcTimer timer(metrics_, "GetJob");
  absl::StatusOr<Principal> caller = Caller(context);
  if (!caller.ok()) return ToGrpc(caller.status());
  absl::StatusOr<pgan::v1::Job> job = VisibleJob(*caller, "id", request->id());
  if (!job.ok()) return ToGrpc(job.status());
  *response = std::move(*job);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::ListJobs(grpc::ServerContext* context,
                                      const pgan::v1::ListJobsRequest* request,
                                      pgan::v1::ListJobsResponse* response) {
  RpcTimer timer(metrics_, "ListJobs");
  absl::StatusOr<Principal> caller = Caller(context);
  if (!caller.ok()) return ToGrpc(caller.status());
  if (request->page_size() < 0 || request->page_size() > kMaxPageSize) {
    return ToGrpc(absl::InvalidArgumentError(
        absl::StrCat("page_size: expected 0 to ", kMaxPageSize, ", got ",
                     request->page_size())));
  }
  JobQuery query;
  query.limit =
      request->page_size() == 0 ? kDefaultPageSize : request->page_size();
  if (caller->role != Principal::Role::kAdmin) query.owner = caller->name;
  for (int state : request->states()) {
    query.states.push_back(static_cast<pgan::v1::JobState>(state));
  }
  if (!request->page_token().empty() &&
      (!absl::SimpleAtoi(request->page_token(), &query.after_sequence) ||
       query.after_sequence < 0)) {
    return ToGrpc(absl::InvalidArgumentError(
        "page_token: not a token from a previous ListJobsResponse"));
  }
  absl::StatusOr<std::vector<StoredJob>> jobs = store_->ListJobs(query);
  if (!jobs.ok()) return ToGrpc(jobs.status());
  for (StoredJob& stored : *jobs) *response->add_jobs() = std::move(stored.job);
  if (static_cast<int>(jobs->size()) == query.limit) {
    response->set_next_page_token(absl::StrCat(jobs->back().sequence));
  }
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::CancelJob(
    grpc::ServerContext* context, const pgan::v1::CancelJobRequest* request,
    pgan::v1::Job* response) {
  RpcTimer timer(metrics_, "CancelJob");
  absl::StatusOr<Principal> caller = Caller(context);
  if (!caller.ok()) return ToGrpc(caller.status());
  absl::StatusOr<pgan::v1::Job> job = VisibleJob(*caller, "id", request->id());
  if (!job.ok()) return ToGrpc(job.status());
  // Under the scheduler's lock, which also stops the gang.
  job = scheduler_->Cancel(job->id(), absl::Now());
  if (!job.ok()) return ToGrpc(job.status());
  *response = std::move(*job);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::ListSnapshots(
    grpc::ServerContext* context, const pgan::v1::ListSnapshotsRequest* request,
    pgan::v1::ListSnapshotsResponse* response) {
  RpcTimer timer(metrics_, "ListSnapshots");
  absl::StatusOr<Principal> caller = Caller(context);
  if (!caller.ok()) return ToGrpc(caller.status());
  absl::StatusOr<pgan::v1::Job> job =
      VisibleJob(*caller, "job_id", request->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  absl::StatusOr<std::vector<pgan::v1::Snapshot>> snapshots =
      store_->Snapshots(job->id());
  if (!snapshots.ok()) return ToGrpc(snapshots.status());
  for (pgan::v1::Snapshot& s : *snapshots)
    *response->add_snapshots() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::WatchJob(
    grpc::ServerContext* context, const pgan::v1::WatchJobRequest* request,
    grpc::ServerWriter<pgan::v1::JobEvent>* writer) {
  absl::StatusOr<Principal> caller = Caller(context);
  if (!caller.ok()) return ToGrpc(caller.status());
  absl::StatusOr<pgan::v1::Job> job = VisibleJob(*caller, "id", request->id());
  if (!job.ok()) return ToGrpc(job.status());
  pgan::v1::JobEvent first;
  *first.mutable_job() = *job;
  if (!writer->Write(first)) return grpc::Status::OK;
  pgan::v1::JobState state = job->state();
  int64_t tick = job->has_last_tick() ? job->last_tick().tick() : -1;
  while (!Terminal(state) && !context->IsCancelled()) {
    std::this_thread::sleep_for(kWatchPoll);
    absl::StatusOr<StoredJob> now = store_->GetJob(request->id());
    if (!now.ok()) return ToGrpc(now.status());
    const pgan::v1::Job& current = now->job;
    const int64_t current_tick =
        current.has_last_tick() ? current.last_tick().tick() : -1;
    if (current.state() == state && current_tick == tick) continue;
    pgan::v1::JobEvent event;
    *event.mutable_job() = current;
    if (current_tick != tick) *event.mutable_tick() = current.last_tick();
    if (!writer->Write(event)) break;
    state = current.state();
    tick = current_tick;
  }
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::DownloadSnapshot(
    grpc::ServerContext* context,
    const pgan::v1::DownloadSnapshotRequest* request,
    grpc::ServerWriter<pgan::v1::DataChunk>* writer) {
  absl::StatusOr<Principal> caller = Caller(context);
  if (!caller.ok()) return ToGrpc(caller.status());
  absl::StatusOr<pgan::v1::Job> job =
      VisibleJob(*caller, "job_id", request->job_id());
  if (!job.ok()) return ToGrpc(job.status());
  absl::StatusOr<std::vector<pgan::v1::Snapshot>> snapshots =
      store_->Snapshots(job->id());
  if (!snapshots.ok()) return ToGrpc(snapshots.status());
  const pgan::v1::Snapshot* chosen = nullptr;
  const std::string which =
      request->which().empty() ? "latest" : request->which();
  for (const pgan::v1::Snapshot& s : *snapshots) {
    if (which == "latest" ||
        absl::StrFormat("%06d", static_cast<int64_t>(s.kimg())) == which) {
      chosen = &s;  // Sorted by kimg: the last match is the latest.
    }
  }
  if (chosen == nullptr) {
    return ToGrpc(absl::NotFoundError(absl::StrCat(
        "job ", job->id(), " has no snapshot \"", which.substr(0, 32),
        "\" (which: latest or the kimg of a snapshot, e.g. 000200)")));
  }
  // Workers report the paths: serve only files under the output roots.
  absl::StatusOr<std::string> path =
      ConfinePath("snapshot path", chosen->path(), roots_.output);
  if (!path.ok()) {
    return ToGrpc(absl::PermissionDeniedError(
        absl::StrCat("snapshot ", chosen->kimg(), " kimg of job ", job->id(),
                     " lies outside the coordinator's output roots")));
  }
  std::ifstream file(*path, std::ios::binary | std::ios::ate);
  if (!file) {
    return ToGrpc(absl::NotFoundError(
        absl::StrCat("the file of snapshot ", chosen->kimg(), " kimg of job ",
                     job->id(), " is gone from the coordinator's storage")));
  }
  const int64_t total = static_cast<int64_t>(file.tellg());
  file.seekg(0);
  std::string buffer(kChunkBytes, '\0');
  int64_t offset = 0;
  while (offset < total && !context->IsCancelled()) {
    const int64_t n = std::min<int64_t>(kChunkBytes, total - offset);
    if (!file.read(buffer.data(), n)) {
      return ToGrpc(absl::DataLossError(absl::StrCat(
          "reading snapshot ", chosen->kimg(), " kimg of job ", job->id())));
    }
    pgan::v1::DataChunk chunk;
    chunk.set_data(buffer.data(), static_cast<size_t>(n));
    chunk.set_offset(offset);
    chunk.set_total_size(total);
    if (!writer->Write(chunk)) break;
    offset += n;
  }
  return grpc::Status::OK;
}

}  // namespace pgan::services
