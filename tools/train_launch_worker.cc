// `pgan train` and `pgan bench` in full builds: through worker/, so the
// same command is one process alone and one rank of a job under mpirun.
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "tools/train_commands.h"
#include "trainer/trainer.h"
#include "worker/comm_bench.h"
#include "worker/comm_process_group.h"
#include "worker/job_spec.h"
#include "worker/run_job.h"

namespace pgan::tools {
namespace {

// Rank 0 reports; the other ranks' lines are dropped.
std::ostream& RankStream(const comm::Communicator& comm, std::ostream& out) {
  static std::ostringstream* discard = new std::ostringstream;
  discard->str("");
  return comm.rank() == 0 ? out : *discard;
}

absl::Status RunSyncBench(const BenchOptions& options,
                          const BenchResult& iteration,
                          const worker::JobSpec& job, comm::Communicator& comm,
                          std::ostream& out) {
  worker::SyncBenchOptions sync;
  sync.phases = {iteration.g_sizes, iteration.d_sizes};
  sync.sync = job.Sync();
  sync.device = comm.backend() == comm::Backend::kNccl
                    ? torch::Device(torch::kCUDA, comm.local_rank())
                    : torch::Device(torch::kCPU);
  sync.iterations = options.comm_iterations;
  ASSIGN_OR_RETURN(worker::SyncBenchResult r,
                   worker::BenchGradientSync(comm, sync));
  const int n = comm.world_size();
  const double bytes = 4.0 * r.floats_per_iteration;
  const char* plain = comm.backend() == comm::Backend::kNccl
                          ? "one ncclAllReduce"
                          : "MPI_Allreduce";
  out << absl::StrFormat(
      "comm: %d ranks, backend %s, %d gradient floats per iteration (%.1f MB: "
      "G %d tensors, D %d), %d buckets of <= %.0f MiB%s\n",
      n, comm::BackendName(comm.backend()), r.floats_per_iteration, bytes / 1e6,
      iteration.g_sizes.size(), iteration.d_sizes.size(),
      r.buckets_per_iteration, job.training.bucket_mb,
      r.copied ? " (gradients copied in and out)" : ", gradients in place");
  out << absl::StrFormat(
      "comm: gradient sync %.3f ms/iteration; plain %s of the same bytes "
      "per phase %.3f ms (sync / plain = %.3f)\n",
      r.sync_seconds * 1e3, plain, r.plain_seconds * 1e3,
      r.sync_seconds / r.plain_seconds);
  out << absl::StrFormat(
      "comm: sync algbw %.2f GB/s, busbw %.2f GB/s; plain busbw %.2f GB/s\n",
      bytes / r.sync_seconds / 1e9,
      worker::AllReduceBusBandwidth(bytes, r.sync_seconds, n) / 1e9,
      worker::AllReduceBusBandwidth(bytes, r.plain_seconds, n) / 1e9);
  out << absl::StrFormat(
      "comm: share of an iteration: %.2f%% inside training, waiting for the "
      "slowest rank included (%.3f ms "
      "of %.3f s), %.2f%% from the sync benchmark\n",
      100 * iteration.sync_seconds_per_iteration /
          iteration.seconds_per_iteration,
      iteration.sync_seconds_per_iteration * 1e3,
      iteration.seconds_per_iteration,
      100 * r.sync_seconds / iteration.seconds_per_iteration);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<trainer::RunEnd> RunTrainCommand(const TrainOptions& options,
                             const Launcher& launcher,
                             const std::atomic<bool>* stop, std::ostream& out) {
  if (options.dry_run) {
    if (launcher.rank != 0) return trainer::RunEnd::kFinished;
    RETURN_IF_ERROR(trainer::DryRun(options.config, options.resume,
                                    launcher.world_size,
                                    config::Surface::kFlags, out));
    return trainer::RunEnd::kFinished;
  }
  worker::JobSpec job;
  job.training = options.config;
  job.resume = options.resume;
  job.fallback_stats_cache = options.fallback_stats_cache;
  ASSIGN_OR_RETURN(std::unique_ptr<comm::Communicator> comm,
                   worker::MakeJobCommunicator(job, launcher.under_mpi));
  absl::StatusOr<trainer::RunEnd> end = worker::RunJob(job, *comm, stop, out);
  if (!end.ok() && comm->world_size() > 1) {
    // Other ranks may wait in a collective: end the whole job.
    comm->Abort(absl::StrCat("pgan train rank ", comm->rank(), ": ",
                             end.status().message()),
                1);
  }
  return end;
}

absl::Status RunBenchCommand(const BenchOptions& options,
                             const Launcher& launcher, std::ostream& out) {
  if (options.comm_bench && !launcher.under_mpi) {
    return absl::FailedPreconditionError(
        "--comm times the gradient sync between processes: run it under "
        "mpirun, e.g. mpirun -np 2 pgan bench --comm");
  }
  worker::JobSpec job;
  job.training = options.config;
  ASSIGN_OR_RETURN(std::unique_ptr<comm::Communicator> comm,
                   worker::MakeJobCommunicator(job, launcher.under_mpi));
  worker::CommProcessGroup group(comm.get(), job.Sync());
  std::ostream& report = RankStream(*comm, out);
  absl::StatusOr<BenchResult> result = RunBench(options, group, report);
  absl::Status status = result.status();
  if (status.ok() && options.comm_bench) {
    status = RunSyncBench(options, *result, job, *comm, report);
  }
  if (!status.ok() && comm->world_size() > 1) {
    comm->Abort(
        absl::StrCat("pgan bench rank ", comm->rank(), ": ", status.message()),
        1);
  }
  return status;
}

}  // namespace pgan::tools
