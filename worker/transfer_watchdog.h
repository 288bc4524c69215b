// A watchdog thread for blocking calls that cannot be polled: Arm() before
// the call, Disarm() after it; if the call is still running at the deadline
// the watchdog runs the expiry action (which ends the process: it prints and
// aborts the job). Used by the MPI backend around its data transfers, which
// use MPI's tuned blocking collectives (the non-blocking ones are up to 2x
// slower in Open MPI). Arm and Disarm are an atomic store each and never wake
// the thread (a wake-up would take a core from a rank busy-polling inside
// MPI); the thread looks every `period` instead, so an expiry is noticed up
// to one period late. Thread-safe; Arm/Disarm come from one thread.
#ifndef PGAN_WORKER_TRANSFER_WATCHDOG_H_
#define PGAN_WORKER_TRANSFER_WATCHDOG_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace pgan::comm {

class TransferWatchdog {
 public:
  // `expire` is called on the watchdog thread with the armed description
  // and must not return (it aborts the job).
  TransferWatchdog(absl::Duration period,
                   std::function<void(const std::string&)> expire);
  ~TransferWatchdog();
  TransferWatchdog(const TransferWatchdog&) = delete;
  TransferWatchdog& operator=(const TransferWatchdog&) = delete;

  // `what` is copied only when the deadline passes.
  void Arm(absl::Duration timeout, std::function<std::string()> what);
  void Disarm();

 private:
  void Run();

  const absl::Duration period_;
  const std::function<void(const std::string&)> expire_;
  // Deadline in absl::ToUnixNanos, 0 when disarmed.
  std::atomic<int64_t> deadline_ns_{0};
  std::mutex mu_;  // Guards what_ and stopping_.
  std::condition_variable cv_;
  std::function<std::string()> what_;
  bool stopping_ = false;
  std::thread thread_;  // Last: starts after the fields above exist.
};

}  // namespace pgan::comm

#endif  // PGAN_WORKER_TRANSFER_WATCHDOG_H_
