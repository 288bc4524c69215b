// Work only rank 0 does (a snapshot written, a sample grid rendered) while
// the other ranks wait for it. Left in the collective path, a long one
// trips the peers' collective timeout and kills a healthy job (a 1,024-image
// grid takes minutes on a CPU). RunOnRoot keeps the group alive instead:
// rank 0 runs the work on a thread of its own while every rank meets in a
// small all-gather every `beat`. The peers' deadline thus follows rank 0's
// heartbeats, not the work's length, and a rank that stops (killed, frozen,
// cut off) still fails the next beat within the collective timeout, named
// by the communicator's watchdog as before.
#ifndef PGAN_TRAINER_ROOT_WORK_H_
#define PGAN_TRAINER_ROOT_WORK_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "trainer/process_group.h"

namespace pgan::trainer {

// Every rank calls it at the same point. Rank 0 returns the work's status;
// the others return OK, or ABORTED naming `what` when rank 0's work failed
// (rank 0 reports why). With one process the work runs inline. `beat`
// must be well under the group's collective timeout.
absl::Status RunOnRoot(ProcessGroup& group, const std::string& what,
                       absl::Duration beat,
                       const std::function<absl::Status()>& work);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_ROOT_WORK_H_
