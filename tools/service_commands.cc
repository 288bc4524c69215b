#include "tools/service_commands.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "pgan/v1/job.grpc.pb.h"

namespace pgan::tools {
namespace {

constexpr char kDefaultAddress[] = "127.0.0.1:7470";
constexpr auto kCallTimeout = std::chrono::seconds(30);

struct Connection {
  std::string address;
  std::string token;
  std::unique_ptr<pgan::v1::JobService::Stub> stub;

  std::unique_ptr<grpc::ClientContext> Context() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  // One line: what the coordinator said, or why it could not be reached.
  absl::Status Error(const grpc::Status& status) const {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return absl::UnavailableError(
          absl::StrCat("cannot reach the coordinator at ", address, " (",
                       status.error_message(),
                       "); is pgan-coordinator running? Set --coordinator or "
                       "PGAN_COORDINATOR"));
    }
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
};

absl::StatusOr<Connection> Connect(const ServiceOptions& options) {
  Connection c;
  c.address = options.address;
  if (c.address.empty()) {
    const char* env = std::getenv("PGAN_COORDINATOR");
    c.address = env != nullptr && *env != '\0' ? env : kDefaultAddress;
  }
  c.token = options.token;
  if (c.token.empty()) {
    const char* env = std::getenv("PGAN_TOKEN");
    if (env != nullptr) c.token = env;
  }
  if (c.token.empty()) {
    return absl::InvalidArgumentError(
        "no token: pass --token or set PGAN_TOKEN (the coordinator's admin has "
        "it)");
  }
  c.stub = pgan::v1::JobService::NewStub(
      grpc::CreateChannel(c.address, grpc::InsecureChannelCredentials()));
  return c;
}

std::string StateName(pgan::v1::JobState state) {
  std::string name = pgan::v1::JobState_Name(state);
  const std::string prefix = "JOB_STATE_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& ch : name)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return name;
}

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return google::protobuf::util::TimeUtil::ToString(t).substr(0, 19) + "Z";
}

}  // namespace

absl::Status RunSubmit(const ServiceOptions& service,
                       const std::string& job_file, std::ostream& out) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(job_file));
  pgan::v1::SubmitJobRequest request;
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      text, request.mutable_spec(), parse);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        job_file, ": not a JobSpec in JSON: ", std::string(parsed.message())));
  }
  ASSIGN_OR_RETURN(Connection c, Connect(service));
  pgan::v1::Job job;
  const grpc::Status status =
      c.stub->SubmitJob(c.Context().get(), request, &job);
  if (!status.ok()) return c.Error(status);
  out << "submitted " << job.id() << " (" << StateName(job.state());
  if (!job.pending_reason().empty()) out << ": " << job.pending_reason();
  out << ")\n";
  return absl::OkStatus();
}

absl::Status RunJobs(const ServiceOptions& service, bool all,
                     std::ostream& out) {
  ASSIGN_OR_RETURN(Connection c, Connect(service));
  pgan::v1::ListJobsRequest request;
  if (!all) {
    for (auto state : {pgan::v1::JOB_STATE_QUEUED, pgan::v1::JOB_STATE_RUNNING,
                       pgan::v1::JOB_STATE_RESTARTING}) {
      request.add_states(state);
    }
  }
  request.set_page_size(1000);
  out << absl::StrFormat("%-21s %-20s %-12s %-11s %10s  %s\n", "ID", "NAME",
                         "OWNER", "STATE", "KIMG", "SUBMITTED");
  while (true) {
    pgan::v1::ListJobsResponse response;
    const grpc::Status status =
        c.stub->ListJobs(c.Context().get(), request, &response);
    if (!status.ok()) return c.Error(status);
    for (const pgan::v1::Job& job : response.jobs()) {
      out << absl::StrFormat("%-21s %-20s %-12s %-11s %10.2f  %s\n", job.id(),
                             job.spec().name().substr(0, 20),
                             job.owner().substr(0, 12), StateName(job.state()),
                             job.last_tick().kimg(), Time(job.submitted()));
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  return absl::OkStatus();
}

absl::Status RunStatus(const ServiceOptions& service, const std::string& id,
                       std::ostream& out) {
  ASSIGN_OR_RETURN(Connection c, Connect(service));
  pgan::v1::GetJobRequest request;
  request.set_id(id);
  pgan::v1::Job job;
  const grpc::Status status = c.stub->GetJob(c.Context().get(), request, &job);
  if (!status.ok()) return c.Error(status);
  const pgan::v1::TrainingOptions& t = job.spec().training();
  out << "job        " << job.id() << " (" << job.spec().name() << ", owner "
      << job.owner() << ")\n";
  out << "state      " << StateName(job.state()) << "\n";
  if (!job.pending_reason().empty())
    out << "waiting    " << job.pending_reason() << "\n";
  if (!job.failure_reason().empty())
    out << "failed     " << job.failure_reason() << "\n";
  out << "training   " << t.model().cfg() << " " << t.model().resolution()
      << "px, batch " << t.batch() << ", " << t.kimg() << " kimg on "
      << job.spec().resources().workers() << " worker(s), data " << t.data()
      << "\n";
  out << absl::StrFormat("progress   %.2f / %.2f kimg", job.last_tick().kimg(),
                         t.kimg())
      << "\n";
  out << "restarts   " << job.restarts() << ", generation " << job.generation()
      << "\n";
  out << "submitted  " << Time(job.submitted()) << ", started "
      << Time(job.started()) << ", finished " << Time(job.finished()) << "\n";
  return absl::OkStatus();
}

absl::Status RunCancel(const ServiceOptions& service, const std::string& id,
                       std::ostream& out) {
  ASSIGN_OR_RETURN(Connection c, Connect(service));
  pgan::v1::CancelJobRequest request;
  request.set_id(id);
  pgan::v1::Job job;
  const grpc::Status status =
      c.stub->CancelJob(c.Context().get(), request, &job);
  if (!status.ok()) return c.Error(status);
  out << job.id() << " " << StateName(job.state()) << "\n";
  return absl::OkStatus();
}

absl::Status RunSnapshots(const ServiceOptions& service, const std::string& id,
                          std::ostream& out) {
  ASSIGN_OR_RETURN(Connection c, Connect(service));
  pgan::v1::ListSnapshotsRequest request;
  request.set_job_id(id);
  pgan::v1::ListSnapshotsResponse response;
  const grpc::Status status =
      c.stub->ListSnapshots(c.Context().get(), request, &response);
  if (!status.ok()) return c.Error(status);
  for (const pgan::v1::Snapshot& s : response.snapshots()) {
    out << absl::StrFormat("%10.2f kimg  %12d bytes  %s  %s\n", s.kimg(),
                           s.size_bytes(), Time(s.created()), s.path());
  }
  return absl::OkStatus();
}

}  // namespace pgan::tools
