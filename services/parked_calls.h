// Calls that wait for something to happen (a gang to assemble, a key to be
// set) park here instead of holding a server thread each: thousands of
// them cost one thread, the one that expires them. The owner keeps its
// state under its own mutex and wakes the calls parked on a key whenever
// that key's state changes; a woken call looks again and answers or parks
// on. Answers run on this class's thread, outside the owner's lock, so an
// answer may call back into the owner. Thread-safe under the owner's
// mutex (see each method).
#ifndef PGAN_SERVICES_PARKED_CALLS_H_
#define PGAN_SERVICES_PARKED_CALLS_H_

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace pgan::services {

class ParkedCalls {
 public:
  // What answers a call (run outside the owner's lock).
  using Answer = std::function<void()>;
  // Under the owner's lock: the call's answer if it can be given now, else
  // null to wait on. With `expired` (its deadline has passed) it must
  // answer.
  using Attempt = std::function<Answer(bool expired)>;
  // Answers with an error, at shutdown.
  using Abandon = std::function<void(const absl::Status&)>;

  // `mu` is the owner's mutex: held while attempts run. Not owned.
  explicit ParkedCalls(std::mutex* mu);
  // Answers every call still parked with UNAVAILABLE.
  ~ParkedCalls();
  ParkedCalls(const ParkedCalls&) = delete;
  ParkedCalls& operator=(const ParkedCalls&) = delete;

  // Under the owner's lock: tries the call once, then parks it on `key`
  // until a Wake finds it answerable or `deadline` passes.
  void ParkLocked(const std::string& key, absl::Time deadline, Attempt attempt,
                  Abandon abandon);
  // Under the owner's lock: tries every call parked on `key` again.
  void WakeLocked(const std::string& key);
  // Not under the owner's lock: answers every call parked now with
  // UNAVAILABLE (the server is shutting down).
  void AbandonAll();
  // Under the owner's lock: how many calls wait.
  size_t size_locked() const { return parked_.size(); }

 private:
  struct Call {
    absl::Time deadline;
    Attempt attempt;
    Abandon abandon;
  };
  using Calls = std::multimap<std::string, Call>;

  // Hands an answer to the thread.
  void QueueLocked(Answer answer);
  void Run();

  std::mutex* const mu_;
  std::condition_variable cv_;  // Waits on *mu_.
  Calls parked_;                // By key.
  std::vector<Answer> ready_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace pgan::services

#endif  // PGAN_SERVICES_PARKED_CALLS_H_
