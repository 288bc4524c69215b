#include "trainer/evaluation.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "trainer/state_dict.h"
#include "trainer/torch_status.h"

namespace pgan::trainer {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string MetricFile(const std::string& run_dir, const std::string& metric) {
  return (fs::path(run_dir) / absl::StrCat("metric-", metric, ".jsonl"))
      .string();
}

// The convergence watch follows the first distance (lower is better);
// precision and recall are not watched.
const MetricSpec* WatchedSpec(const std::vector<MetricSpec>& specs) {
  for (const MetricSpec& spec : specs) {
    if (spec.kind != MetricKind::kPr) return &spec;
  }
  return nullptr;
}

}  // namespace

void Evaluation::AddTo(config::TickReport* report) const {
  report->metrics.clear();
  for (const MetricResult& r : results) {
    report->metrics.push_back({r.metric, r.value});
  }
  report->metrics_kimg = point.kimg;
  report->metrics_sec = seconds;
  report->convergence = convergence;
}

std::string ConvergenceWatch::Observe(double value) {
  const double best_before = best_;
  if (value < best_) {  // NaN is never a new best.
    best_ = value;
    since_best_ = 0;
  } else {
    ++since_best_;
  }
  if (collapse_ratio_ > 0 && std::isfinite(best_before) &&
      !(value <= best_before * collapse_ratio_)) {
    return "collapse";
  }
  if (patience_ > 0 && since_best_ >= patience_) return "plateau";
  return "";
}

absl::StatusOr<std::unique_ptr<SnapshotEvaluator>> SnapshotEvaluator::Create(
    const config::TrainingConfig& config, Networks& networks,
    std::shared_ptr<const ImageDataset> dataset, ProcessGroup* group,
    c10::Device device, std::ostream* log,
    const std::string& fallback_cache_dir) {
  if (config.metrics.empty()) return nullptr;
  std::unique_ptr<SnapshotEvaluator> e(new SnapshotEvaluator());
  e->config_ = config;
  e->group_ = group;
  e->log_ = group->rank() == 0 ? log : nullptr;
  e->device_ = device;
  e->watch_ = ConvergenceWatch(config.patience, config.collapse_ratio);
  const DetectorFiles files{config.inception, config.inception_pytorchfid,
                            config.vgg16};
  const std::string& network_name = config.model.feature_network;
  ASSIGN_OR_RETURN(
      std::vector<MetricSpec> specs,
      config::ResolveMetrics(config.metrics, files.available(), network_name));
  ASSIGN_OR_RETURN(
      MetricsEvaluator::Extractors extractors,
      LoadDetectors(specs, files, networks.D->feature_network->pretrained.get(),
                    network_name, device));
  for (size_t i = 0; i < specs.size(); ++i) {
    if (e->log_ != nullptr && specs[i].name != config.metrics[i]) {
      *e->log_ << "Metric " << config.metrics[i] << " is computed as "
               << specs[i].name
               << " (no --inception: the feature network's Frechet "
                  "distance, not comparable to FID)"
               << std::endl;
    }
  }
  MetricsOptions options;
  options.batch = config.BatchGpu(group->world_size());
  options.cache_dir = config.metrics_cache;
  options.fallback_cache_dir = fallback_cache_dir;
  options.log = e->log_;
  ASSIGN_OR_RETURN(e->evaluator_, MetricsEvaluator::Create(
                                      std::move(specs), std::move(extractors),
                                      std::move(dataset), group, options));
  return e;
}

SnapshotEvaluator::~SnapshotEvaluator() {
  // A background evaluation holds a copy of G_ema and the extractors.
  if (pending_.has_value() && pending_->partials.valid())
    pending_->partials.wait();
}

absl::Status SnapshotEvaluator::Prepare(const std::string& run_dir,
                                        double resume_kimg) {
  run_dir_ = run_dir;
  RETURN_IF_ERROR(evaluator_->PrepareReals());
  // The convergence watch continues from the run's own history: rank 0
  // reads it and shares it.
  double state[2] = {std::numeric_limits<double>::infinity(), 0};
  const MetricSpec* watched = WatchedSpec(specs());
  if (group_->rank() == 0 && !run_dir.empty() && resume_kimg > 0 &&
      watched != nullptr) {
    std::ifstream in(MetricFile(run_dir, watched->name));
    std::string line;
    while (std::getline(in, line)) {
      const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
      if (record.is_discarded() || !record.contains("kimg") ||
          !record.contains("results")) {
        continue;  // A torn last line of a crashed run.
      }
      const double kimg = record["kimg"].get<double>();
      if (kimg > resume_kimg + 1e-9) break;
      const double value = record["results"].value(watched->name, NAN);
      if (value < state[0]) {
        state[0] = value;
        state[1] = 0;
        best_snapshot_ =
            (fs::path(run_dir) / record.value("snapshot_pkl", std::string()))
                .string();
      } else {
        state[1] += 1;
      }
    }
  }
  if (group_->world_size() > 1) {
    std::vector<torch::Tensor> shared = {
        torch::tensor({state[0], state[1]}, torch::kFloat64)};
    RETURN_IF_ERROR(group_->Broadcast(shared, 0));
    state[0] = shared[0][0].item<double>();
    state[1] = shared[0][1].item<double>();
  }
  watch_.Restore(state[0], static_cast<int64_t>(state[1]));
  return absl::OkStatus();
}

absl::Status SnapshotEvaluator::Start(Generator& g_ema,
                                      const EvaluationPoint& point, bool wait) {
  if (pending_.has_value()) {
    ASSIGN_OR_RETURN(std::vector<Evaluation> done, Poll(/*wait=*/true));
    // Poll returned them; keep them for the caller's next Poll.
    ready_.insert(ready_.begin(), done.begin(), done.end());
  }
  if (wait || !config_.metrics_async) {
    const Clock::time_point start = Clock::now();
    absl::StatusOr<FakePartials> partials = evaluator_->ExtractFakes(g_ema);
    if (partials.ok()) {
      partials->seconds =
          std::chrono::duration<double>(Clock::now() - start).count();
    }
    ASSIGN_OR_RETURN(std::vector<uint64_t> failed,
                     group_->GatherValues(partials.ok() ? 0 : 1));
    RETURN_IF_ERROR(partials.status());
    for (uint64_t f : failed) {
      if (f != 0) return absl::AbortedError("another rank failed to evaluate");
    }
    return Finish(point, *std::move(partials));
  }
  Pending pending;
  pending.point = point;
  RETURN_IF_ERROR(CatchTorch("copying G_ema for evaluation", [&] {
    pending.copy = Generator(g_ema->config());
    CopyState(*g_ema, *pending.copy);
    pending.copy->to(device_);
    pending.copy->eval();
    return absl::OkStatus();
  }));
  Generator copy = pending.copy;
  MetricsEvaluator* evaluator = evaluator_.get();
  pending.partials = std::async(
      std::launch::async,
      [evaluator, copy]() mutable { return evaluator->ExtractFakes(copy); });
  pending_ = std::move(pending);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Evaluation>> SnapshotEvaluator::Poll(bool wait) {
  if (pending_.has_value()) {
    const bool ready =
        wait || pending_->partials.wait_for(std::chrono::seconds(0)) ==
                    std::future_status::ready;
    // All ranks finish together: Reduce is collective.
    ASSIGN_OR_RETURN(std::vector<uint64_t> flags,
                     group_->GatherValues(ready ? 1 : 0));
    bool all_ready = true;
    for (uint64_t f : flags) all_ready &= f != 0;
    if (all_ready) {
      absl::StatusOr<FakePartials> partials = pending_->partials.get();
      const EvaluationPoint point = pending_->point;
      pending_.reset();
      ASSIGN_OR_RETURN(std::vector<uint64_t> failed,
                       group_->GatherValues(partials.ok() ? 0 : 1));
      RETURN_IF_ERROR(partials.status());
      for (uint64_t f : failed) {
        if (f != 0)
          return absl::AbortedError("another rank failed to evaluate");
      }
      RETURN_IF_ERROR(Finish(point, *std::move(partials)));
    }
  }
  return std::exchange(ready_, {});
}

absl::Status SnapshotEvaluator::Finish(EvaluationPoint point,
                                       FakePartials partials) {
  const Clock::time_point start = Clock::now();
  Evaluation evaluation;
  evaluation.point = std::move(point);
  ASSIGN_OR_RETURN(evaluation.results, evaluator_->Reduce(partials));
  evaluation.seconds =
      partials.seconds +
      std::chrono::duration<double>(Clock::now() - start).count();
  Watch(evaluation);
  RETURN_IF_ERROR(Append(evaluation));
  ready_.push_back(std::move(evaluation));
  return absl::OkStatus();
}

void SnapshotEvaluator::Watch(Evaluation& evaluation) {
  const MetricSpec* watched = WatchedSpec(specs());
  if (watched == nullptr) return;
  const auto result = std::find_if(
      evaluation.results.begin(), evaluation.results.end(),
      [&](const MetricResult& r) { return r.metric == watched->name; });
  if (result == evaluation.results.end()) return;
  const double value = result->value;
  evaluation.convergence = watch_.Observe(value);
  if (watch_.improved()) best_snapshot_ = evaluation.point.snapshot;
  if (evaluation.convergence.empty()) return;
  if (log_ != nullptr) {
    *log_ << absl::StrFormat(
                 "%s %s at kimg %.1f: %g, best %g (%d evaluations without a "
                 "new best)%s",
                 result->metric,
                 evaluation.convergence == "collapse" ? "collapsed"
                                                      : "has plateaued",
                 evaluation.point.kimg, value, watch_.best(),
                 watch_.since_best(),
                 config_.stop_early ? "; stopping early (--stop-early)" : "")
          << std::endl;
  }
  should_stop_ = should_stop_ || config_.stop_early;
}

absl::Status SnapshotEvaluator::Append(const Evaluation& evaluation) const {
  if (group_->rank() != 0 || run_dir_.empty()) return absl::OkStatus();
  // One line per metric, the reference's metric-<name>.jsonl fields plus
  // pgan's; pr50k3_full's line holds both of its results, as there.
  for (const MetricSpec& spec : specs()) {
    nlohmann::json results = nlohmann::json::object();
    int64_t num_fakes = 0, num_reals = 0;
    for (const MetricResult& r : evaluation.results) {
      if (r.spec != spec.name) continue;
      results[r.metric] = r.value;
      num_fakes = r.num_fakes;
      num_reals = r.num_reals;
    }
    const nlohmann::json line = {
        {"results", results},
        {"metric", spec.name},
        {"total_time", evaluation.seconds},
        {"num_gpus", group_->world_size()},
        {"snapshot_pkl",
         fs::path(evaluation.point.snapshot).filename().string()},
        {"timestamp", static_cast<double>(std::time(nullptr))},
        {"kimg", evaluation.point.kimg},
        {"tick", evaluation.point.tick},
        {"total_sec", evaluation.point.training_seconds},
        {"num_fakes", num_fakes},
        {"num_reals", num_reals},
        {"reals_cached", evaluator_->reals_cached()},
        {"convergence", evaluation.convergence}};
    const std::string file = MetricFile(run_dir_, spec.name);
    std::ofstream out(file, std::ios::app);
    out << line.dump() << "\n";
    if (!out) {
      return absl::InternalError(
          absl::StrCat(file, ": cannot append the result"));
    }
  }
  return absl::OkStatus();
}

}  // namespace pgan::trainer
