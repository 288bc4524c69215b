// Waits for something that is polled (an MPI request, a CUDA stream) until a
// deadline. For the first `spin` of the wait the polls follow each other at
// once (yielding the core), so a short wait adds no latency; after that it
// sleeps between polls, an eighth of the time already waited but between
// 20 us and `max_sleep`, so a long wait costs almost no CPU and adds at most
// max(12.5%, max_sleep) to it. One object per wait; not thread-safe.
#ifndef PGAN_WORKER_DEADLINE_POLLER_H_
#define PGAN_WORKER_DEADLINE_POLLER_H_

#include <chrono>
#include <string>

#include "absl/time/time.h"

namespace pgan::comm {

class DeadlinePoller {
 public:
  // The deadline is `timeout` from now.
  DeadlinePoller(absl::Duration timeout, absl::Duration spin,
                 absl::Duration max_sleep);

  // Call after a poll that found the thing not done: pauses before the next
  // poll and returns true, or returns false once the deadline has passed
  // (the poll just made was the last one).
  //   while (!Done()) if (!poller.Wait()) return TimedOut();
  bool Wait();

  // Time since construction.
  absl::Duration elapsed() const;

 private:
  using Clock = std::chrono::steady_clock;

  const Clock::time_point start_;
  const Clock::time_point deadline_;
  const Clock::duration spin_;
  const Clock::duration max_sleep_;
};

// "60 s", "2.5 s", "0.25 s": durations in the watchdog's messages.
std::string FormatSeconds(absl::Duration duration);

}  // namespace pgan::comm

#endif  // PGAN_WORKER_DEADLINE_POLLER_H_
