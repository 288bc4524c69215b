// One assignment of a pool worker, run in a process of its own (the
// worker's agent starts it and kills it on an abort): meet the gang at the
// coordinator's rendezvous, form the communicator (Gloo for CPU gangs, NCCL
// over Gloo for GPU gangs, none for one worker), train, and report ticks,
// snapshots and the exit to the coordinator. Reports go out on a thread of
// their own and are retried, so training never waits for the coordinator
// and a coordinator restart loses none of them.
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
  // How long the exit report is retried while the coordinator is away.
  absl::Duration report_patience = absl::Minutes(10);
  // Where progress goes for the agent's heartbeats: two int64 (iterations,
  // images) per tick; -1 for none.
  int progress_fd = -1;
  // Where dataset statistics are cached when the dataset's folder is
  // read-only (from the environment, read in main).
  std::string fallback_stats_cache;
};

// Runs the assignment to its end and reports the exit (also returned):
// exit_code 0 when done, else the reason and whether a retry can help.
pgan::v1::ReportExitRequest RunPoolTask(CoordinatorClient& client,
                                        const pgan::v1::Assignment& assignment,
                                        const PoolTaskOptions& options,
                                        const std::atomic<bool>* stop,
                                        std::ostream& log);

// Errors that a retry on other workers cannot fix: a bad spec or dataset.
bool IsRetryable(const absl::Status& status);

}  // namespace pgan::worker

#endif  // PGAN_WORKER_POOL_TASK_H_
