#include "tools/service_commands.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "config/config_proto.h"
#include "pgan/v1/job.grpc.pb.h"
#include "proto/job_spec_text.h"
#include "proto/rpc.h"

namespace pgan::tools {
namespace {

namespace fs = std::filesystem;

constexpr char kDefaultAddress[] = "127.0.0.1:7470";
constexpr auto kCallTimeout = std::chrono::seconds(30);

struct Connection {
  std::string address;
  std::string token;
  std::unique_ptr<pgan::v1::JobService::Stub> stub;

  std::unique_ptr<grpc::ClientContext> Context() const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
    rpc::Authorize(context.get(), token);
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
    return rpc::FromGrpc(status);
  }
};

absl::StatusOr<Connection> Connect(const ServiceOptions& options) {
  Connection c;
  c.address = options.address.empty() ? kDefaultAddress : options.address;
  c.token = options.token;
  if (c.token.empty()) {
    return absl::InvalidArgumentError(
        "no token: pass --token or set PGAN_TOKEN (the coordinator's admin has "
        "it)");
  }
  rpc::ChannelOptions channel;
  channel.address = c.address;
  channel.tls_ca = options.tls_ca;
  channel.tls_cert = options.tls_cert;
  channel.tls_key = options.tls_key;
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> made,
                   rpc::MakeChannel(channel));
  c.stub = pgan::v1::JobService::NewStub(made);
  return c;
}

// "[#########-----------]  45%" for a fraction done.
std::string ProgressBar(double done) {
  constexpr int kWidth = 20;
  done = std::clamp(done, 0.0, 1.0);
  const int filled = static_cast<int>(done * kWidth + 0.5);
  return absl::StrFormat("[%s%s] %3.0f%%", std::string(filled, '#'),
                         std::string(kWidth - filled, '-'), done * 100);
}

std::string StateName(pgan::v1::JobState state) {
  std::string name = pgan::v1::JobState_Name(state);
  const std::string prefix = "JOB_STATE_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& ch : name)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return name;
}

std::string WorkerStateName(pgan::v1::WorkerState state) {
  std::string name = pgan::v1::WorkerState_Name(state);
  const std::string prefix = "WORKER_STATE_";
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
  const std::string extension = fs::path(job_file).extension().string();
  pgan::v1::SubmitJobRequest request;
  ASSIGN_OR_RETURN(*request.mutable_spec(),
                   rpc::ParseJobSpec(text,
                                     extension == ".yaml" || extension == ".yml"
                                         ? rpc::SpecFormat::kYaml
                                         : rpc::SpecFormat::kJson,
                                     job_file));
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
  out << "training   " << t.model().cfg() << " "
      << (t.model().resolution() > 0
              ? absl::StrCat(t.model().resolution(), "px")
              : std::string("at the dataset's resolution"))
      << ", batch " << t.batch() << ", " << t.kimg() << " kimg on "
      << job.spec().resources().workers() << " worker(s), data " << t.data()
      << "\n";
  if (absl::StatusOr<config::TrainingConfig> c = config::FromProto(t); c.ok()) {
    // What the workers run: "auto" resolved by the job's elasticity.
    c->ResolveWorldInvariant(job.spec().elastic());
    out << "invariant  "
        << (c->WorldInvariant()
                ? "on: the same model on any number of workers"
                : "off: results depend on the number of workers (the "
                  "reference's)")
        << (job.spec().elastic() ? "; elastic" : "") << "\n";
  }
  out << absl::StrFormat("progress   %.2f / %.2f kimg", job.last_tick().kimg(),
                         t.kimg())
      << "\n";
  if (job.metrics_size() > 0) {
    out << absl::StrFormat("metrics    at kimg %.2f:", job.metrics_kimg());
    for (const pgan::v1::MetricValue& m : job.metrics()) {
      out << absl::StrFormat(" %s %.4g", m.metric(), m.value());
    }
    out << "; best:";
    for (const pgan::v1::MetricValue& m : job.best_metrics()) {
      out << absl::StrFormat(" %s %.4g", m.metric(), m.value());
    }
    out << "\n";
  }
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
    std::string metrics;
    for (const pgan::v1::MetricValue& m : s.metrics()) {
      absl::StrAppendFormat(&metrics, "  %s %.4g", m.metric(), m.value());
    }
    out << absl::StrFormat("%10.2f kimg  %12d bytes  %s  %s%s\n", s.kimg(),
                           s.size_bytes(), Time(s.created()), s.path(),
                           metrics);
  }
  return absl::OkStatus();
}

absl::Status RunWatch(const ServiceOptions& service, const std::string& id,
                      std::ostream& out) {
  ASSIGN_OR_RETURN(Connection c, Connect(service));
  pgan::v1::WatchJobRequest request;
  request.set_id(id);
  grpc::ClientContext context;  // No deadline: jobs run for days.
  rpc::Authorize(&context, c.token);
  auto reader = c.stub->WatchJob(&context, request);
  pgan::v1::JobEvent event;
  pgan::v1::Job last;
  while (reader->Read(&event)) {
    if (event.job().state() != last.state() || last.id().empty()) {
      out << id << " " << StateName(event.job().state());
      if (!event.job().pending_reason().empty()) {
        out << ": " << event.job().pending_reason();
      }
      out << std::endl;
    }
    if (event.has_tick()) {
      const pgan::v1::TickRecord& t = event.tick();
      const double total = event.job().spec().training().kimg();
      out << absl::StrFormat(
                 "tick %-5d kimg %8.2f / %.2f  sec/kimg %7.2f  eta %6.0fs  "
                 "loss G "
                 "%7.4f D %7.4f  %s",
                 t.tick(), t.kimg(), total, t.sec_per_kimg(),
                 event.job().eta_seconds(), t.loss_g(), t.loss_d(),
                 ProgressBar(total > 0 ? t.kimg() / total : 0))
          << std::endl;
      if (t.metrics_size() > 0) {
        out << absl::StrFormat("metrics at kimg %.2f:", t.metrics_kimg());
        for (const pgan::v1::MetricValue& m : t.metrics()) {
          out << absl::StrFormat("  %s %.4g", m.metric(), m.value());
        }
        if (!t.convergence().empty()) out << "  (" << t.convergence() << ")";
        out << std::endl;
      }
    }
    last = event.job();
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return c.Error(status);
  switch (last.state()) {
    case pgan::v1::JOB_STATE_SUCCEEDED:
      return absl::OkStatus();
    case pgan::v1::JOB_STATE_FAILED:
      return absl::AbortedError(
          absl::StrCat("job ", id, " failed: ", last.failure_reason()));
    case pgan::v1::JOB_STATE_CANCELLED:
      return absl::CancelledError(absl::StrCat("job ", id, " was cancelled"));
    default:
      return absl::UnavailableError("the coordinator ended the watch early");
  }
}

absl::Status RunDownload(const ServiceOptions& service, const std::string& id,
                         const std::string& which, const std::string& path,
                         std::ostream& out) {
  ASSIGN_OR_RETURN(Connection c, Connect(service));
  pgan::v1::DownloadSnapshotRequest request;
  request.set_job_id(id);
  request.set_which(which);
  grpc::ClientContext context;
  rpc::Authorize(&context, c.token);
  auto reader = c.stub->DownloadSnapshot(&context, request);
  int64_t received = 0, total = 0;
  // Written to a temporary file and renamed only when complete.
  absl::Status written = WriteFileAtomically(path, [&](int fd) -> absl::Status {
    pgan::v1::DataChunk chunk;
    while (reader->Read(&chunk)) {
      if (chunk.offset() != received) {
        return absl::DataLossError(
            "the coordinator sent the snapshot out of order");
      }
      RETURN_IF_ERROR(
          WriteAll(fd, chunk.data().data(), chunk.data().size(), path));
      received += static_cast<int64_t>(chunk.data().size());
      total = chunk.total_size();
    }
    const grpc::Status status = reader->Finish();
    if (!status.ok()) return c.Error(status);
    if (received != total) {
      return absl::DataLossError(
          absl::StrCat("received ", received, " of ", total, " bytes"));
    }
    return absl::OkStatus();
  });
  RETURN_IF_ERROR(written);
  out << "wrote " << path << " (" << received << " bytes)\n";
  return absl::OkStatus();
}

absl::Status RunSamples(const ServiceOptions& service, const std::string& id,
                        const std::string& path, std::ostream& out) {
  ASSIGN_OR_RETURN(Connection c, Connect(service));
  pgan::v1::GetSamplesRequest request;
  request.set_job_id(id);
  pgan::v1::Samples samples;
  const grpc::Status status =
      c.stub->GetSamples(c.Context().get(), request, &samples);
  if (!status.ok()) return c.Error(status);
  if (samples.png().rfind("\x89PNG\r\n\x1a\n", 0) != 0) {
    return absl::DataLossError(
        absl::StrCat("the coordinator sent a sample grid of job ", id,
                     " that is not a PNG"));
  }
  // Written to a temporary file and renamed only when complete.
  RETURN_IF_ERROR(WriteFileAtomically(path, samples.png()));
  out << absl::StrFormat("wrote %s (%d bytes, %g kimg)\n", path,
                         samples.png().size(), samples.kimg());
  return absl::OkStatus();
}

absl::Status RunPlotJob(const ServiceOptions& service,
                        const PlotOptions& options, std::ostream& out) {
  const std::string& id = options.run_dir;
  ASSIGN_OR_RETURN(Connection c, Connect(service));
  pgan::v1::ListTicksRequest request;
  request.set_job_id(id);
  pgan::v1::ListTicksResponse response;
  const grpc::Status status =
      c.stub->ListTicks(c.Context().get(), request, &response);
  if (!status.ok()) return c.Error(status);
  RunCurves curves;
  curves.name = id;
  std::map<std::string, std::map<double, MetricPoint>> metrics;
  for (const pgan::v1::TickRecord& t : response.ticks()) {
    const config::TickReport p = config::FromProto(t);
    curves.ticks.push_back(p);
    for (const pgan::v1::MetricValue& m : t.metrics()) {
      MetricPoint point;
      point.kimg = t.metrics_kimg();
      point.value = m.value();
      point.timestamp = p.timestamp;
      metrics[m.metric()][point.kimg] = point;  // A re-run tick replaces.
    }
  }
  for (auto& [name, points] : metrics) {
    MetricCurve curve;
    curve.name = name;
    for (auto& [kimg, point] : points) curve.points.push_back(point);
    curves.metrics.push_back(std::move(curve));
  }
  if (curves.ticks.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id, " has no progress records yet"));
  }
  ASSIGN_OR_RETURN(const std::string png,
                   RenderRunCurvesPng(curves, options.width, options.height));
  const std::string path = options.out.empty() ? id + ".png" : options.out;
  RETURN_IF_ERROR(WriteFileAtomically(path, png));
  out << absl::StrFormat("wrote %s (%d ticks, %d metrics)\n", path,
                         curves.ticks.size(), curves.metrics.size());
  return absl::OkStatus();
}

absl::Status RunWorkers(const ServiceOptions& service, std::ostream& out) {
  ASSIGN_OR_RETURN(Connection c, Connect(service));
  pgan::v1::ListWorkersResponse response;
  const grpc::Status status = c.stub->ListWorkers(
      c.Context().get(), pgan::v1::ListWorkersRequest(), &response);
  if (!status.ok()) return c.Error(status);
  constexpr char kRow[] = "%-16s %-20s %4s %5s %-5s %-21s %4s  %s\n";
  out << absl::StrFormat(kRow, "ID", "HOST", "GPUS", "CPUS", "STATE", "JOB",
                         "GEN", "LAST-SEEN");
  for (const pgan::v1::WorkerStatus& w : response.workers()) {
    const bool in_job = !w.job_id().empty();
    out << absl::StrFormat(
        kRow, w.id(), w.host().substr(0, 20), absl::StrCat(w.gpus()),
        absl::StrCat(w.cpu_slots()), WorkerStateName(w.state()),
        in_job ? w.job_id() : "-", in_job ? absl::StrCat(w.generation()) : "-",
        absl::StrFormat("%.1fs ago", w.seconds_since_heartbeat()));
  }
  return absl::OkStatus();
}

}  // namespace pgan::tools
