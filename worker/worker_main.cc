// pgan-worker: one rank of a training job. Under mpirun every process runs
// this with the same job file; alone it trains in one process.
//
//   mpirun -np 4 pgan-worker --job job.json
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include "worker/job_spec.h"
#include "worker/run_job.h"

namespace {

std::atomic<bool> g_stop{false};

void HandleStop(int signal) {
  g_stop.store(true);
  std::signal(signal, SIG_DFL);
}

// Open MPI, MPICH/Hydra and PMIx launchers set one of these.
bool UnderMpiLauncher() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr ||
         std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pgan-worker: one process of a pgan training job"};
  std::string job_path, resume;
  app.add_option("--job", job_path,
                 "Job file (JSON with the options of pgan train)")
      ->required();
  app.add_option("--resume", resume,
                 "latest, a run directory or a snapshot (overrides the job's)");
  CLI11_PARSE(app, argc, argv);

  auto job = pgan::worker::ReadJobFile(job_path);
  if (!job.ok()) {
    std::cerr << "pgan-worker: " << job.status().message() << "\n";
    return 2;
  }
  if (!resume.empty()) job->resume = resume;
  auto comm = pgan::worker::MakeJobCommunicator(*job, UnderMpiLauncher());
  if (!comm.ok()) {
    std::cerr << "pgan-worker: " << comm.status().message() << "\n";
    return 1;
  }
  std::signal(SIGINT, HandleStop);
  std::signal(SIGTERM, HandleStop);
  const absl::Status status =
      pgan::worker::RunJob(*job, **comm, &g_stop, std::cout);
  if (!status.ok()) {
    const std::string message = "pgan-worker rank " +
                                std::to_string((*comm)->rank()) + ": " +
                                std::string(status.message());
    // Other ranks may be waiting in a collective: end the whole job.
    if ((*comm)->world_size() > 1) (*comm)->Abort(message, 1);
    std::cerr << message << "\n";
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
