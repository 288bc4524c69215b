// How rank 0 of a coordinator's job reports: ticks and snapshots (and a
// pool task's exit) go out in order from a thread of their own, so training
// never waits for the coordinator. An attached gang sends them as RPCs,
// each retried while the coordinator is away or has not re-adopted the
// worker yet (UNAVAILABLE and the like), and drops those of a stale or
// ended gang (ABORTED). A pool task hands them to its agent over a pipe
// (task_pipe.h), which owns them from then on.
#ifndef PGAN_WORKER_REPORTING_H_
#define PGAN_WORKER_REPORTING_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "pgan/v1/worker.pb.h"
#include "trainer/trainer.h"
#include "worker/coordinator_client.h"
#include "worker/task_pipe.h"

namespace pgan::worker {

// Sends one report; an error ShouldResend() accepts is retried a second
// later, any other drops the report.
using ReportSender = std::function<absl::Status(const TaskReport&)>;
// As the RPC of its kind.
ReportSender SendToCoordinator(CoordinatorClient* client);
// As a frame on the agent's pipe.
ReportSender SendToAgent(int fd);

class Reporter {
 public:
  explicit Reporter(ReportSender send);
  // Stops sending; what is still queued is dropped (Drain first).
  ~Reporter();

  void Add(TaskReport report);
  // Waits up to `patience` for the queue to empty; false if it did not.
  bool Drain(absl::Duration patience);

 private:
  void Loop();

  const ReportSender send_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<TaskReport> queue_;
  bool stopping_ = false;
  std::thread thread_;  // Last: starts after the members it uses.
};

// Rank 0's ticks and snapshots as reports for one generation of one job;
// progress (iterations, images) for heartbeats.
class ReportingObserver final : public trainer::TrainingObserver {
 public:
  ReportingObserver(Reporter* reporter, std::string worker_id,
                    std::string job_id, int64_t generation);

  void OnTick(const config::TickReport& report) override;
  void OnSnapshot(const std::string& snapshot_path,
                  const std::string& network_path,
                  const trainer::TrainProgress& progress) override;

  int64_t iteration() const { return iteration_.load(); }
  int64_t cur_nimg() const { return cur_nimg_.load(); }

 private:
  template <typename Request>
  void Address(Request* request) const;

  Reporter* reporter_;
  const std::string worker_id_, job_id_;
  const int64_t generation_;
  std::atomic<int64_t> iteration_{0}, cur_nimg_{0};
};

}  // namespace pgan::worker

#endif  // PGAN_WORKER_REPORTING_H_
