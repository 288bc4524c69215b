// pgan-worker in pool mode: the agent that registers this worker with a
// coordinator, heartbeats every second (with the running task's progress),
// and runs each assignment in a child process (pgan-worker --task): it
// starts the child on ASSIGN, kills it on ABORT (the gang is broken, and a
// child blocked in a collective must not outlive it). The child hands its
// ticks, snapshots and exit to the agent (task_pipe.h); the agent keeps each
// until the coordinator has taken it, resending after a reconnect, and
// writes the exit of a child that died without one. Until then its
// heartbeats still name the ended task's job, so that a restarted
// coordinator adopts it and takes the reports. The child dies with the agent
// (PR_SET_PDEATHSIG), so a lost agent is a lost worker, which the
// coordinator sees as missing heartbeats. While the coordinator is
// unreachable the agent keeps retrying with backoff and the child keeps
// training.
#ifndef PGAN_WORKER_POOL_AGENT_H_
#define PGAN_WORKER_POOL_AGENT_H_

#include <atomic>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/rpc.h"
#include "worker/agent_health.h"

namespace pgan::worker {

struct PoolAgentOptions {
  rpc::ChannelOptions channel;
  std::string token;  // The coordinator's worker token.
  // How this worker registers: its host (also where Gloo listens; peers
  // must reach it), GPUs and cores.
  std::string hostname;
  int gpus = 0;
  int cpu_slots = 1;
  // Reuse an id (a restarted worker); empty: the coordinator picks one.
  std::string worker_id;
  // The task's collective timeout.
  absl::Duration comm_timeout = absl::Seconds(60);
  // This executable (the task runs `pgan-worker --task -`).
  std::string executable;

  absl::Status Validate() const;
};

// Runs until `stop` is set (then stops a running task with SIGTERM, which
// snapshots and reports it as retryable) or a fatal error (a rejected
// token, an invalid registration). `health` (may be null) follows the
// registration and the heartbeats.
absl::Status RunPoolAgent(const PoolAgentOptions& options,
                          const std::atomic<bool>* stop, std::ostream& log,
                          AgentHealth* health = nullptr);

}  // namespace pgan::worker

#endif  // PGAN_WORKER_POOL_AGENT_H_
