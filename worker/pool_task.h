// One assignment of a pool worker, run in a process of its own (the
// worker's agent starts it and kills it on an abort): meet the gang at the
// coordinator's rendezvous, form the communicator (Gloo for CPU gangs, NCCL
// over Gloo for GPU gangs, none for one worker), train, and report ticks,
// snapshots and the exit. Reports go to the agent over a pipe
// (task_pipe.h), which keeps each until the coordinator acknowledges it:
// training never waits for the coordinator, and a task may end while the
// coordinator is away without losing its exit.
#ifndef PGAN_WORKER_POOL_TASK_H_
#define PGAN_WORKER_POOL_TASK_H_

#include <atomic>
#include <ostream>
#include <string>

#include "absl/time/time.h"
#include "pgan/v1/worker.pb.h"
#include "worker/coordinator_client.h"

namespace pgan::worker {

struct PoolTaskOptions {
  std::string worker_id;
  // This worker's host name as its peers reach it (Gloo listens there).
  std::string hostname;
  // Cores for LibTorch when the job says threads 0.
  int cpu_slots = 1;
  // Bounds every collective (a silent peer) and the rendezvous.
  absl::Duration comm_timeout = absl::Seconds(60);
  absl::Duration rendezvous_timeout = absl::Seconds(120);
  // The agent's end of the report pipe; -1 (a task started by hand):
  // reports go to the coordinator directly, retried for `report_patience`.
  int report_fd = -1;
  absl::Duration report_patience = absl::Minutes(10);
  // Where dataset statistics are cached when the dataset's folder is
  // read-only (from the environment, read in main).
  std::string fallback_stats_cache;
};

// Runs the assignment to its end and reports the exit (also returned),
// after every tick and snapshot: exit_code 0 when done, else the reason and
// whether a retry can help.
pgan::v1::ReportExitRequest RunPoolTask(CoordinatorClient& client,
                                        const pgan::v1::Assignment& assignment,
                                        const PoolTaskOptions& options,
                                        const std::atomic<bool>* stop,
                                        std::ostream& log);

// Errors that a retry on other workers cannot fix: a bad spec or dataset.
bool IsRetryable(const absl::Status& status);

}  // namespace pgan::worker

#endif  // PGAN_WORKER_POOL_TASK_H_
