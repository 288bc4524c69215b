// What a pool worker's /healthz and /readyz report (pgan-worker
// --health-listen): alive while its agent loop turns, ready while it is
// registered with the coordinator and its last heartbeat got an answer.
// A worker that cannot reach the coordinator is alive but not ready: it
// keeps retrying (and its task keeps training), so restarting it would
// only lose work. Thread-safe.
#ifndef PGAN_WORKER_AGENT_HEALTH_H_
#define PGAN_WORKER_AGENT_HEALTH_H_

#include <mutex>
#include <string>

#include "absl/time/time.h"
#include "proto/http_server.h"

namespace pgan::worker {

class AgentHealth {
 public:
  // Liveness fails when the loop has not turned for `stuck_after`: longer
  // than any heartbeat deadline or registration backoff.
  explicit AgentHealth(absl::Duration stuck_after = absl::Seconds(60));

  // The agent's loop turned (at `now`).
  void Beat(absl::Time now = absl::Now());
  // Registered and heard from the coordinator; or not, and why.
  void SetReady(bool ready, std::string why = "");

  rpc::HttpResponse Liveness(absl::Time now = absl::Now()) const;
  rpc::HttpResponse Readiness() const;

 private:
  const absl::Duration stuck_after_;
  mutable std::mutex mu_;
  absl::Time last_beat_;
  bool ready_ = false;
  std::string why_ = "not registered with the coordinator yet";
};

}  // namespace pgan::worker

#endif  // PGAN_WORKER_AGENT_HEALTH_H_
