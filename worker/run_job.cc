#include "worker/run_job.h"

#include <torch/cuda.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "trainer/trainer.h"
#include "worker/comm_process_group.h"

namespace pgan::worker {

absl::StatusOr<std::unique_ptr<comm::Communicator>> MakeJobCommunicator(
    const JobSpec& job, bool under_mpi) {
  comm::CommConfig config = job.Comm();
  const std::string& backend = job.training.backend;
  if (!under_mpi) {
    if (backend == "nccl" || backend == "mpi") {
      return absl::FailedPreconditionError(
          absl::StrCat("backend \"", backend,
                       "\" needs the processes started by mpirun"));
    }
    config.backend = comm::Backend::kLocal;
    return comm::CreateCommunicator(config);
  }
  const bool gpus = torch::cuda::is_available();
  config.backend = backend == "nccl" || (backend == "auto" && gpus)
                       ? comm::Backend::kNccl
                       : comm::Backend::kMpi;
  auto communicator = comm::CreateCommunicator(config);
  if (!communicator.ok() && backend == "auto" &&
      config.backend == comm::Backend::kNccl) {
    // GPUs, but no NCCL in this build: MPI on host buffers still works.
    config.backend = comm::Backend::kMpi;
    return comm::CreateCommunicator(config);
  }
  return communicator;
}

absl::StatusOr<trainer::RunEnd> RunJob(const JobSpec& job, comm::Communicator& comm,
                    const std::atomic<bool>* stop, std::ostream& log,
                    trainer::TrainingObserver* observer) {
  CommProcessGroup group(&comm, job.Sync());
  trainer::TrainerEnvironment env;
  env.group = &group;
  env.log = comm.rank() == 0 ? &log : nullptr;
  env.stop_flag = stop;
  env.observer = observer;
  env.run_dir = job.run_dir;
  env.surface = job.surface;
  env.fallback_stats_cache = job.fallback_stats_cache;
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(std::unique_ptr<trainer::Trainer> run,
                   trainer::Trainer::Create(job.training, job.resume, env));
  if (comm.rank() == 0) {
    if (run->config().feature_weights.empty()) {
      log << "WARNING: no --feature-weights: the feature network is RANDOM. "
             "Training works, but quality stays far below the paper's, which "
             "relies on ImageNet features (timm's "
          << run->config().model.feature_network << " model.safetensors).\n";
    }
    log << "Run directory: " << run->run_dir() << " (" << comm.world_size()
        << " process" << (comm.world_size() > 1 ? "es" : "") << ", set up in "
        << absl::FormatDuration(
               absl::Trunc(absl::Now() - start, absl::Milliseconds(1)))
        << ")" << std::endl;
  }
  ASSIGN_OR_RETURN(const trainer::RunEnd end, run->Run());
  if (comm.rank() == 0 && end != trainer::RunEnd::kRestart) {
    log << "Done at " << run->progress().cur_nimg / 1000.0
        << " kimg: " << run->run_dir() << std::endl;
  }
  return end;
}

}  // namespace pgan::worker
