// How rank 0 of a coordinator's job reports: ticks and snapshots become
// ReportTick/ReportSnapshot calls, sent in order from a thread of their own
// and each retried while the coordinator is away or has not re-adopted the
// worker yet (UNAVAILABLE and the like), so training never waits for the
// coordinator and a coordinator restart loses no report. Reports of a stale
// or ended gang (ABORTED) are dropped.
#ifndef PGAN_WORKER_REPORTING_H_
#define PGAN_WORKER_REPORTING_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "pgan/v1/worker.pb.h"
#include "trainer/trainer.h"
#include "worker/coordinator_client.h"

namespace pgan::worker {

class Reporter {
 public:
  explicit Reporter(CoordinatorClient* client);
  // Stops sending; what is still queued is dropped (Drain first).
  ~Reporter();

  void Add(pgan::v1::ReportTickRequest tick);
  void Add(pgan::v1::ReportSnapshotRequest snapshot);
  // Waits up to `patience` for the queue to empty; false if it did not.
  bool Drain(absl::Duration patience);

 private:
  struct Item {
    std::optional<pgan::v1::ReportTickRequest> tick;
    std::optional<pgan::v1::ReportSnapshotRequest> snapshot;
  };
  void Push(Item item);
  void Loop();

  CoordinatorClient* client_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::thread thread_;  // Last: starts after the members it uses.
};

// Rank 0's ticks and snapshots as reports for one generation of one job;
// progress (iterations, images) for heartbeats, also written to
// `progress_fd` (two int64 per tick) when it is not -1.
class ReportingObserver final : public trainer::TrainingObserver {
 public:
  ReportingObserver(Reporter* reporter, std::string worker_id,
                    std::string job_id, int64_t generation,
                    int progress_fd = -1);

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
  const int progress_fd_;
  std::atomic<int64_t> iteration_{0}, cur_nimg_{0};
};

}  // namespace pgan::worker

#endif  // PGAN_WORKER_REPORTING_H_
