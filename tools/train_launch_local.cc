// `pgan train` and `pgan bench` in trainer-only builds (no worker/, no
// MPI): one process.
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tools/train_commands.h"
#include "trainer/process_group.h"
#include "trainer/trainer.h"

namespace pgan::tools {
namespace {

absl::Status NeedsWorker(const char* what) {
  return absl::FailedPreconditionError(
      absl::StrCat(what,
                   " needs MPI, and this pgan was built without it "
                   "(-DPGAN_WITH_SERVICES=OFF): use a full build"));
}

}  // namespace

absl::StatusOr<trainer::RunEnd> RunTrainCommand(const TrainOptions& options,
                             const Launcher& launcher,
                             const std::atomic<bool>* stop, std::ostream& out) {
  if (options.dry_run) {
    if (launcher.rank != 0) return trainer::RunEnd::kFinished;
    RETURN_IF_ERROR(trainer::DryRun(options.config, options.resume,
                                    launcher.world_size,
                                    config::Surface::kFlags, out));
    return trainer::RunEnd::kFinished;
  }
  if (launcher.under_mpi) return NeedsWorker("training under mpirun");
  trainer::LocalProcessGroup group;
  trainer::TrainerEnvironment env;
  env.group = &group;
  env.log = &out;
  env.stop_flag = stop;
  env.fallback_stats_cache = options.fallback_stats_cache;
  ASSIGN_OR_RETURN(
      std::unique_ptr<trainer::Trainer> run,
      trainer::Trainer::Create(options.config, options.resume, env));
  out << "Run directory: " << run->run_dir() << std::endl;
  ASSIGN_OR_RETURN(const trainer::RunEnd end, run->Run());
  if (end != trainer::RunEnd::kRestart) {
    out << "Done at " << run->progress().cur_nimg / 1000.0
        << " kimg: " << run->run_dir() << std::endl;
  }
  return end;
}

absl::Status RunBenchCommand(const BenchOptions& options,
                             const Launcher& launcher, std::ostream& out) {
  if (launcher.under_mpi) return NeedsWorker("benchmarking under mpirun");
  if (options.comm_bench) return NeedsWorker("--comm");
  trainer::LocalProcessGroup group;
  return RunBench(options, group, out).status();
}

}  // namespace pgan::tools
