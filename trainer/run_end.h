// How a training process ends when it ends without an error, and the exit
// status of a restart. Torch-free, so that launchers can include it.
#ifndef PGAN_TRAINER_RUN_END_H_
#define PGAN_TRAINER_RUN_END_H_

namespace pgan::trainer {

enum class RunEnd {
  kFinished,  // kimg reached, stopped early on convergence, or the
              // iterations asked for done.
  kStopped,   // A stop was requested (a signal); a snapshot was written.
  kRestart,   // restart_every elapsed; a snapshot was written. The same
              // command run again continues (exit status kExitRestart).
};

// The exit status of a process that ends for a restart: sysexits.h's
// EX_TEMPFAIL ("try again later"), which requeue loops test for.
inline constexpr int kExitRestart = 75;

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_RUN_END_H_
