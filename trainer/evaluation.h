// The Trainer's quality metrics at snapshots: builds the extractors and the
// MetricsEvaluator from the training config, evaluates G_ema at each
// snapshot either at once or, with --metrics-async, on a copy in a thread
// while training goes on, appends rank 0's metric-<name>.jsonl (the
// reference's layout), tracks the best snapshot and watches convergence.
// Every method is called by every rank at the same point of training (they
// issue collectives). Not thread-safe.
#ifndef PGAN_TRAINER_EVALUATION_H_
#define PGAN_TRAINER_EVALUATION_H_

#include <future>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/tick_report.h"
#include "config/training_config.h"
#include "trainer/metrics.h"
#include "trainer/network_file.h"

namespace pgan::trainer {

// Where in training a snapshot was taken.
struct EvaluationPoint {
  double kimg = 0;
  int64_t tick = 0;
  std::string snapshot;  // Path of the snapshot file (rank 0).
  double training_seconds = 0;
};

struct Evaluation {
  EvaluationPoint point;
  std::vector<MetricResult> results;
  double seconds = 0;  // Generating and extracting the fakes, and reducing.
  // "" or, for the first metric, "plateau" (no new best for --patience
  // evaluations) or "collapse" (above the best by --collapse-ratio).
  std::string convergence;

  // Into a tick's report: the metrics in the job's order (the first is the
  // watched one), metrics_kimg, metrics_sec, convergence.
  void AddTo(config::TickReport* report) const;
};

// The convergence watch on one metric (lower is better).
class ConvergenceWatch {
 public:
  // `patience`: evaluations without a new best before "plateau" (0: off);
  // `collapse_ratio`: "collapse" when a value exceeds the best before it by
  // that factor (0: off).
  ConvergenceWatch(int patience, double collapse_ratio)
      : patience_(patience), collapse_ratio_(collapse_ratio) {}
  // Continues from a history: the best value and evaluations since.
  void Restore(double best, int64_t since_best) {
    best_ = best;
    since_best_ = since_best;
  }
  // Records `value`; returns "", "plateau" or "collapse".
  std::string Observe(double value);
  // Whether the last observed value was a new best.
  bool improved() const { return since_best_ == 0; }
  double best() const { return best_; }
  int64_t since_best() const { return since_best_; }

 private:
  int patience_;
  double collapse_ratio_;
  double best_ = std::numeric_limits<double>::infinity();
  int64_t since_best_ = 0;
};

class SnapshotEvaluator {
 public:
  // Null without --metrics. `run_dir` is rank 0's (empty elsewhere).
  static absl::StatusOr<std::unique_ptr<SnapshotEvaluator>> Create(
      const config::TrainingConfig& config, Networks& networks,
      std::shared_ptr<const ImageDataset> dataset, ProcessGroup* group,
      c10::Device device, std::ostream* log,
      const std::string& fallback_cache_dir = "");
  ~SnapshotEvaluator();

  // The dataset statistics (cache or one pass) and, on resume, the best
  // value so far from `run_dir`'s metric file. Collective.
  absl::Status Prepare(const std::string& run_dir, double resume_kimg);

  // Evaluates `g_ema` as it is at `point`: now, or in the background with
  // --metrics-async unless `wait`. An evaluation still running is finished
  // first. Collective.
  absl::Status Start(Generator& g_ema, const EvaluationPoint& point, bool wait);
  // Evaluations that finished since the last call, oldest first; `wait`
  // blocks for one in flight. Appends them to metric-<name>.jsonl on rank 0.
  // Collective.
  absl::StatusOr<std::vector<Evaluation>> Poll(bool wait);

  // Snapshot with the best first metric so far (empty before any).
  const std::string& best_snapshot() const { return best_snapshot_; }
  // --stop-early and the watch reported a plateau or collapse.
  bool should_stop() const { return should_stop_; }
  const std::vector<MetricSpec>& specs() const { return evaluator_->specs(); }
  bool reals_cached() const { return evaluator_->reals_cached(); }

 private:
  struct Pending {
    EvaluationPoint point;
    Generator copy{nullptr};
    std::future<absl::StatusOr<FakePartials>> partials;
  };
  SnapshotEvaluator() = default;
  absl::Status Finish(EvaluationPoint point, FakePartials partials);
  void Watch(Evaluation& evaluation);
  absl::Status Append(const Evaluation& evaluation) const;

  config::TrainingConfig config_;
  ProcessGroup* group_ = nullptr;
  std::ostream* log_ = nullptr;
  c10::Device device_{c10::kCPU};
  std::unique_ptr<MetricsEvaluator> evaluator_;
  std::string run_dir_;
  std::optional<Pending> pending_;
  std::vector<Evaluation> ready_;
  ConvergenceWatch watch_{0, 0};
  std::string best_snapshot_;
  bool should_stop_ = false;
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_EVALUATION_H_
