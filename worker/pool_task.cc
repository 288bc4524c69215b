#include "worker/pool_task.h"

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "trainer/trainer.h"
#include "worker/gloo_communicator.h"
#include "worker/job_proto.h"
#include "worker/local_communicator.h"
#include "worker/reporting.h"
#include "worker/run_job.h"

#if PGAN_HAVE_NCCL
#include "worker/nccl_communicator.h"
#endif

namespace pgan::worker {
namespace {

// The gang's communicator, after the rendezvous told this worker its rank.
absl::StatusOr<std::unique_ptr<comm::Communicator>> FormCommunicator(
    CoordinatorClient& client, const pgan::v1::Assignment& assignment,
    const pgan::v1::RendezvousResponse& gang, const PoolTaskOptions& options) {
  if (gang.world_size() == 1) {
    return std::unique_ptr<comm::Communicator>(
        std::make_unique<comm::LocalCommunicator>());
  }
  comm::GlooOptions gloo;
  gloo.rank = gang.rank();
  gloo.world_size = gang.world_size();
  for (int r = 0; r < gang.rank(); ++r) {
    gloo.local_rank += gang.bootstrap(r) == options.hostname ? 1 : 0;
  }
  gloo.hostname = options.hostname;
  gloo.timeout = options.comm_timeout;
  CoordinatorStore store(&client, options.worker_id, assignment.job_id(),
                         assignment.generation());
  ASSIGN_OR_RETURN(std::unique_ptr<comm::GlooCommunicator> host,
                   comm::GlooCommunicator::Create(gloo, &store));
  if (assignment.spec().resources().gpus_per_worker() == 0) {
    return std::unique_ptr<comm::Communicator>(std::move(host));
  }
#if PGAN_HAVE_NCCL
  comm::CommConfig nccl;
  nccl.backend = comm::Backend::kNccl;
  nccl.timeout = options.comm_timeout;
  nccl.device = 0;  // A pool worker's GPU: operators pin it per worker.
  ASSIGN_OR_RETURN(std::unique_ptr<comm::NcclCommunicator> comm,
                   comm::NcclCommunicator::Create(nccl, std::move(host)));
  return std::unique_ptr<comm::Communicator>(std::move(comm));
#else
  return absl::FailedPreconditionError(
      "the job asks for GPUs but this pgan-worker was built without NCCL");
#endif
}

absl::Status RunAssignment(CoordinatorClient& client, Reporter& reporter,
                           const pgan::v1::Assignment& assignment,
                           const PoolTaskOptions& options,
                           const std::atomic<bool>* stop, std::ostream& log) {
  pgan::v1::RendezvousRequest meet;
  meet.set_worker_id(options.worker_id);
  meet.set_job_id(assignment.job_id());
  meet.set_generation(assignment.generation());
  meet.set_bootstrap(options.hostname);
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(pgan::v1::RendezvousResponse gang,
                   client.Rendezvous(meet, options.rendezvous_timeout));
  const absl::Time met = absl::Now();
  ASSIGN_OR_RETURN(std::unique_ptr<comm::Communicator> comm,
                   FormCommunicator(client, assignment, gang, options));
  log << "pgan-worker: rank " << gang.rank() << " of " << gang.world_size()
      << " of job " << assignment.job_id() << " generation "
      << assignment.generation() << " (rendezvous "
      << absl::FormatDuration(absl::Trunc(met - start, absl::Milliseconds(1)))
      << ", " << comm::BackendName(comm->backend()) << " communicator "
      << absl::FormatDuration(
             absl::Trunc(absl::Now() - met, absl::Milliseconds(1)))
      << ")" << std::endl;

  // The fields a job spec leaves to the pool (config/fields.h,
  // supplied_by_service) come from the assignment and this worker.
  ASSIGN_OR_RETURN(JobSpec job, JobSpecFromProto(assignment.spec()));
  job.training.comm_timeout = absl::ToDoubleSeconds(options.comm_timeout);
  job.resume = assignment.resume_snapshot();
  job.run_dir = assignment.run_dir();
  job.fallback_stats_cache = options.fallback_stats_cache;
  job.training.outdir =
      std::filesystem::path(assignment.run_dir()).parent_path().string();
  if (job.training.threads == 0) job.training.threads = options.cpu_slots;
  // The job's resources decide the device, not what the host happens to
  // have; a GPU worker uses its first visible GPU.
  job.training.device =
      assignment.spec().resources().gpus_per_worker() > 0 ? "cuda:0" : "cpu";
  ReportingObserver observer(&reporter, options.worker_id, assignment.job_id(),
                             assignment.generation());
  return RunJob(job, *comm, stop, log, comm->rank() == 0 ? &observer : nullptr)
      .status();
}

}  // namespace

bool IsRetryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnimplemented:
      return false;
    default:
      return true;
  }
}

pgan::v1::ReportExitRequest RunPoolTask(CoordinatorClient& client,
                                        const pgan::v1::Assignment& assignment,
                                        const PoolTaskOptions& options,
                                        const std::atomic<bool>* stop,
                                        std::ostream& log) {
  pgan::v1::ReportExitRequest exit;
  exit.set_worker_id(options.worker_id);
  exit.set_job_id(assignment.job_id());
  exit.set_generation(assignment.generation());
  Reporter reporter(options.report_fd >= 0 ? SendToAgent(options.report_fd)
                                           : SendToCoordinator(&client));
  absl::Status status =
      RunAssignment(client, reporter, assignment, options, stop, log);
  if (status.ok() && stop != nullptr && stop->load()) {
    status = absl::UnavailableError(
        "the worker was stopped before the job ended; the job resumes from "
        "the snapshot written at the stop");
  }
  if (!status.ok()) {
    exit.set_retryable(IsRetryable(status));
    exit.set_exit_code(exit.retryable() ? 1 : 2);
    exit.set_reason(std::string(status.message()));
  }
  // After the ticks and snapshots: the exit may end the job.
  reporter.Add(exit);
  if (!reporter.Drain(options.report_patience)) {
    log << "pgan-worker: "
        << (options.report_fd >= 0 ? "the agent" : "the coordinator")
        << " did not take this task's last reports within "
        << absl::FormatDuration(options.report_patience) << std::endl;
  }
  return exit;
}

}  // namespace pgan::worker
