#include "trainer/root_work.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace pgan::trainer {
namespace {

// What rank 0 says at each beat.
enum Beat : uint64_t { kWorking = 0, kDone = 1, kFailed = 2 };

}  // namespace

absl::Status RunOnRoot(ProcessGroup& group, const std::string& what,
                       absl::Duration beat,
                       const std::function<absl::Status()>& work) {
  if (group.world_size() == 1) return work();
  const bool root = group.rank() == 0;
  std::mutex mu;
  std::condition_variable finished_cv;
  bool finished = false;
  absl::Status result;
  std::thread worker;
  if (root) {
    worker = std::thread([&] {
      absl::Status status = work();
      std::lock_guard<std::mutex> lock(mu);
      result = std::move(status);
      finished = true;
      finished_cv.notify_all();
    });
  }
  absl::Status gathered;
  uint64_t said = kWorking;
  while (said == kWorking) {
    uint64_t state = kWorking;
    if (root) {
      // Beat at once when the work is done, else after `beat`.
      std::unique_lock<std::mutex> lock(mu);
      finished_cv.wait_for(lock, absl::ToChronoNanoseconds(beat),
                           [&] { return finished; });
      if (finished) state = result.ok() ? kDone : kFailed;
    }
    absl::StatusOr<std::vector<uint64_t>> all = group.GatherValues(state);
    if (!all.ok()) {
      gathered = all.status();
      break;
    }
    said = (*all)[0];
  }
  if (root) {
    worker.join();  // The work touches the trainer's state: never abandoned.
    if (!result.ok()) return result;
    return gathered;
  }
  if (!gathered.ok()) return gathered;
  if (said == kFailed) {
    return absl::AbortedError(
        absl::StrCat("rank 0 failed while ", what, " (its log says why)"));
  }
  return absl::OkStatus();
}

}  // namespace pgan::trainer
