// The training loop of one process: builds (or resumes) the networks and
// optimisers, feeds real batches, runs TrainingStep, and at tick boundaries
// reports progress, writes stats.jsonl, sample grids and snapshots. The
// loop reads top to bottom in Run(). Gradient synchronisation and progress
// reporting go through seams (ProcessGroup, TrainingObserver) so that
// worker/ can run it under MPI, NCCL or a coordinator. Not thread-safe.
#ifndef PGAN_TRAINER_TRAINER_H_
#define PGAN_TRAINER_TRAINER_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/tick_report.h"
#include "config/training_config.h"
#include "trainer/adam.h"
#include "trainer/data_loader.h"
#include "trainer/dataset.h"
#include "trainer/evaluation.h"
#include "trainer/network_file.h"
#include "trainer/process_group.h"
#include "trainer/run_end.h"
#include "trainer/sample_grid.h"
#include "trainer/snapshot.h"
#include "trainer/training_step.h"

namespace pgan::trainer {

// Receives what rank 0 reports (the coordinator's worker implements it).
class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  virtual void OnTick(const config::TickReport& report) {}
  virtual void OnSnapshot(const std::string& snapshot_path,
                          const std::string& network_path,
                          const TrainProgress& progress) {}
  // Quality metrics arrive in a tick report's `metrics` (see Evaluation).
};

struct TrainerEnvironment {
  ProcessGroup* group = nullptr;         // Required.
  TrainingObserver* observer = nullptr;  // Optional.
  std::ostream* log = nullptr;           // Progress lines; null = silent.
  // Set (for example by a signal handler) to stop at the next iteration
  // boundary with a snapshot. Optional.
  const std::atomic<bool>* stop_flag = nullptr;
  // A new run's directory, used as named (created if missing) instead of a
  // numbered one under `outdir`: the coordinator names its jobs' run
  // directories. Ignored on resume. Optional.
  std::string run_dir;
  // How the configuration's messages name its fields (the surface it came
  // from: flags, a job file, a coordinator's job spec).
  config::Surface surface = config::Surface::kFlags;
  // Where dataset statistics are cached when the dataset's folder is
  // read-only (StatisticsCache::InUserCache, from main's environment);
  // empty: nowhere else.
  std::string fallback_stats_cache;
};

// The configuration a run on `world_size` processes uses: `requested` for a
// new run, or the snapshot's with what `requested` may change on resume
// (config::MergeForResume); validated. What `pgan train --dry-run` prints.
//
// `resume` names either a snapshot, which the run continues exactly (its
// counters, optimiser state and data order), or a network file (exported,
// or a reference pickle converted by tools/convert_pkl.py), from whose G,
// G_ema and D a NEW run starts with its counters at zero and no G_ema
// ramp-up, as the reference's --resume does: fine-tuning, transfer to a new
// dataset.
//
// A new run's `model.resolution` 0 becomes the dataset's. With
// `restart_every`, the run directory under outdir named for the run's
// description (RunDescription) is continued from its newest snapshot before
// any `resume` (the reference's requeue protocol); one without a snapshot
// yet is reused for the new run.
struct RunPlan {
  config::TrainingConfig config;
  std::string resume_path;   // The snapshot; empty for a new run.
  TrainProgress progress;    // The snapshot's.
  std::string init_network;  // The network file a new run starts from.
  std::string run_dir;       // A new run's directory, when it is given.
};
absl::StatusOr<RunPlan> PlanRun(const config::TrainingConfig& requested,
                                const std::string& resume, int world_size,
                                config::Surface surface);
// The reference's run directory name without its number:
// "<cfg>-<dataset file's stem>-gpus<N>-batch<B>[-<desc>]".
std::string RunDescription(const config::TrainingConfig& config,
                           int world_size);
// Prints the plan of a run on `world_size` processes (its configuration as
// JSON) and trains nothing: `--dry-run`, as the reference's train.py has.
absl::Status DryRun(const config::TrainingConfig& requested,
                    const std::string& resume, int world_size,
                    config::Surface surface, std::ostream& out);

// The reference's optimisers: Adam(betas (0, 0.99)) for G at glr, and for
// the mini discriminators at dlr, with lr * 16/17 and beta2^(16/17) when
// d_lazy_quirk is set.
struct Optimizers {
  std::unique_ptr<Adam> g, d;
};
Optimizers MakeOptimizers(Networks& networks,
                          const config::TrainingConfig& config);

class Trainer {
 public:
  // `resume`: empty for a new run, else "latest", "auto", a run directory
  // or a snapshot file (see ResolveResume), or a network file to start a new
  // run from (RunPlan). On resume the snapshot's config is used with what
  // `config` may change (PlanRun; each option's rule is in
  // config/option_table.cc).
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(
      const config::TrainingConfig& config, const std::string& resume,
      TrainerEnvironment env);

  // Trains until `kimg` is reached, a stop is requested or restart_every
  // has elapsed, then writes a final snapshot. `max_iterations` > 0 stops
  // after that many iterations of this session (tests, benchmarks) without
  // a final snapshot.
  absl::StatusOr<RunEnd> Run(int64_t max_iterations = 0);

  // Writes a snapshot (and its exported network file and sample grid) now.
  // Every rank calls it; rank 0 writes (RunOnRoot).
  absl::Status WriteSnapshot();

  const std::string& run_dir() const { return run_dir_; }
  const config::TrainingConfig& config() const { return config_; }
  const TrainProgress& progress() const { return progress_; }
  Networks& networks() { return nets_; }

 private:
  Trainer() = default;
  absl::Status Setup(const RunPlan& plan);
  absl::StatusOr<c10::Device> PickDevice() const;
  // Opens the dataset, checks it against the model and takes its classes.
  absl::Status OpenDataset();
  // From the seed, the plan's snapshot or its initial network; rank 0's on
  // every rank.
  absl::Status BuildNetworksAndOptimizers(c10::Device device,
                                          const RunPlan& plan);
  absl::Status BuildStepAndLoader();
  // Rank 0 of a new run: the run directory and training_options.json
  // (with the reference's "resume_pkl" when it starts from a network).
  absl::Status CreateRunDirectory();
  absl::Status PrepareEvaluation(c10::Device device);
  absl::Status EndTick(bool done);
  // Metrics of the snapshot just written (at once, or started in the
  // background) and those that finished since: their fields go into the
  // tick `record`.
  absl::Status Evaluate(bool snapshot_written, bool done,
                        config::TickReport* report);
  // Whether any rank was asked to stop (all ranks get the same answer).
  absl::StatusOr<bool> AgreeOnStop();
  // Whether restart_every has elapsed by rank 0's clock (on every rank).
  absl::StatusOr<bool> AgreeOnRestart();
  // Fails when the ranks' parameters are no longer bit-identical.
  absl::Status CheckRanksAgree();
  absl::Status WriteSnapshotOnRoot();
  // What the stored optimiser moments are scaled by (snapshot.h): the
  // world size whose average the gradients are, 1 under --world-invariant.
  int GradientDivisor() const;
  // Rank-0-only `work`, with every rank kept alive meanwhile (root_work.h).
  absl::Status OnRoot(const std::string& what,
                      const std::function<absl::Status()>& work);
  bool is_rank0() const { return env_.group->rank() == 0; }
  void Log(const std::string& line);

  config::TrainingConfig config_;
  TrainerEnvironment env_;
  Networks nets_;
  std::unique_ptr<Adam> g_opt_, d_opt_;
  std::shared_ptr<const ImageDataset> dataset_;
  std::unique_ptr<DataLoader> loader_;
  std::unique_ptr<TrainingStep> step_;
  std::unique_ptr<SnapshotEvaluator> evaluator_;  // Null without --metrics.
  TrainProgress progress_;
  std::string run_dir_;
  std::string init_network_;  // RunPlan::init_network.
  GridSize grid_;  // Of every fakes*.png.
  std::string grid_note_;  // Why it is not the reference's, if it is not.

  // When this process's trainer was created (for restart_every).
  std::chrono::steady_clock::time_point start_time_;
  // Tick bookkeeping.
  StepStats tick_stats_;
  std::chrono::steady_clock::time_point tick_start_time_;
  double maintenance_seconds_ = 0;
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_TRAINER_H_
