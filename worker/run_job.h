// Runs one process's share of a training job: the trainer over a
// CommProcessGroup on this process's communicator. Rank 0 logs and writes;
// the others train silently. Functions only.
#ifndef PGAN_WORKER_RUN_JOB_H_
#define PGAN_WORKER_RUN_JOB_H_

#include <atomic>
#include <memory>
#include <ostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainer/run_end.h"
#include "worker/communicator.h"
#include "worker/job_spec.h"

namespace pgan::trainer {
class TrainingObserver;
}

namespace pgan::worker {

// The communicator for `job` in a process started by an MPI launcher
// (`under_mpi`) or alone: MPI, NCCL for GPU jobs when built, or local.
absl::StatusOr<std::unique_ptr<comm::Communicator>> MakeJobCommunicator(
    const JobSpec& job, bool under_mpi);

// Trains until the job is done, `stop` is set or its restart_every has
// elapsed (then with a snapshot), and says which. `observer` (optional)
// hears rank 0's ticks and snapshots.
absl::StatusOr<trainer::RunEnd> RunJob(const JobSpec& job, comm::Communicator& comm,
                    const std::atomic<bool>* stop, std::ostream& log,
                    trainer::TrainingObserver* observer = nullptr);

}  // namespace pgan::worker

#endif  // PGAN_WORKER_RUN_JOB_H_
