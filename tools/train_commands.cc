#include "tools/train_commands.h"

#include <chrono>
#include <utility>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "trainer/device.h"
#include "trainer/feature_weights.h"
#include "trainer/precision.h"
#include "trainer/process_group.h"
#include "trainer/progress_report.h"
#include "trainer/snapshot.h"
#include "trainer/torch_status.h"
#include "trainer/trainer.h"

namespace pgan::tools {

absl::Status RunExport(const ExportOptions& options, std::ostream& out) {
  RETURN_IF_ERROR(trainer::ExportNetwork(options.snapshot, options.out));
  out << "wrote " << options.out << "\n";
  return absl::OkStatus();
}

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Forwards to `inner`, timing the gradient sync.
class TimedProcessGroup : public trainer::ProcessGroup {
 public:
  explicit TimedProcessGroup(trainer::ProcessGroup& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int world_size() const override { return inner_.world_size(); }
  int local_rank() const override { return inner_.local_rank(); }
  absl::Status PrepareGradients(const std::vector<torch::Tensor>& params) override {
    return inner_.PrepareGradients(params);
  }
  absl::Status SumGradients(std::vector<torch::Tensor>& grads) override {
    const Clock::time_point start = Clock::now();
    absl::Status status = inner_.SumGradients(grads);
    sync_seconds_ += SecondsSince(start);
    return status;
  }
  absl::Status SumDoubles(torch::Tensor& values) override {
    const Clock::time_point start = Clock::now();
    absl::Status status = inner_.SumDoubles(values);
    sync_seconds_ += SecondsSince(start);
    return status;
  }
  absl::Status BroadcastFromRoot(std::vector<torch::Tensor>& tensors) override {
    return inner_.BroadcastFromRoot(tensors);
  }
  absl::Status Broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    return inner_.Broadcast(tensors, root);
  }
  absl::Status SumValues(std::vector<double>& values) override {
    return inner_.SumValues(values);
  }
  absl::StatusOr<std::vector<uint64_t>> GatherValues(uint64_t value) override {
    return inner_.GatherValues(value);
  }
  double TakeSyncSeconds() { return std::exchange(sync_seconds_, 0.0); }

 private:
  trainer::ProcessGroup& inner_;
  double sync_seconds_ = 0;
};

std::vector<int64_t> Sizes(const std::vector<torch::Tensor>& params) {
  std::vector<int64_t> sizes;
  for (const torch::Tensor& p : params) sizes.push_back(p.numel());
  return sizes;
}

}  // namespace

absl::StatusOr<BenchResult> RunBench(const BenchOptions& options,
                                     trainer::ProcessGroup& process_group,
                                     std::ostream& out) {
  config::TrainingConfig config = options.config;
  config.ResolveCfgDefaults();
  const int world = process_group.world_size();
  if (options.iterations < 1 || options.warmup < 0) {
    return absl::InvalidArgumentError("--iters must be >= 1 and --warmup >= 0");
  }
  config::TrainingConfig checked = config;  // Random images, nothing written.
  checked.data = checked.outdir = "-";
  RETURN_IF_ERROR(checked.Validate(world));
  trainer::SetIntraOpThreads(config.threads);
  trainer::SetGpuNumerics(config.allow_tf32, config.nobench);
  std::string device_spec = config.device;
  if (world > 1 && (device_spec == "cuda" || device_spec == "auto") &&
      torch::cuda::is_available()) {
    device_spec = absl::StrCat("cuda:", process_group.local_rank());
  }
  ASSIGN_OR_RETURN(const c10::Device device, trainer::ResolveDevice(device_spec));
  ASSIGN_OR_RETURN(trainer::Networks nets, trainer::BuildNetworks(config.model));
  TimedProcessGroup group(process_group);
  trainer::Optimizers optimizers;
  std::unique_ptr<trainer::TrainingStep> step;
  BenchResult result;
  result.device = device.type();
  RETURN_IF_ERROR(trainer::CatchTorch("preparing the benchmark", [&]() -> absl::Status {
    auto& trunk = *nets.D->feature_network->pretrained;
    if (!config.feature_weights.empty()) {
      RETURN_IF_ERROR(trainer::LoadFeatureNetworkWeights(trunk, config.feature_weights));
    }
    trainer::PlaceForTraining(nets, device, config.channels_last);
    optimizers = trainer::MakeOptimizers(nets, config);
    result.g_sizes = Sizes(optimizers.g->params());
    result.d_sizes = Sizes(optimizers.d->params());
    ASSIGN_OR_RETURN(const trainer::StepOptions step_options,
                     trainer::MakeStepOptions(
                         config, {process_group.rank(), world, config.batch,
                                  config.BatchGpu(world)}));
    step = std::make_unique<trainer::TrainingStep>(
        &nets, optimizers.g.get(), optimizers.d.get(), &group, step_options);
    return absl::OkStatus();
  }));
  const int res = config.model.resolution;
  torch::manual_seed(static_cast<uint64_t>(config.seed + process_group.rank()));
  const torch::Tensor reals =
      torch::randint(0, 256, {config.batch / world, 3, res, res}, torch::kUInt8);
  out << absl::StrFormat(
      "bench: cfg %s, %dx%d, ngf %d, batch %d (batch_gpu %d), %d process%s, "
      "device %s, %d LibTorch threads, amp %s%s\n",
      config.model.cfg, res, res, config.model.ngf, config.batch,
      config.BatchGpu(world), world, world > 1 ? "es" : "", device.str(),
      torch::get_num_threads(), config.amp,
      config.channels_last ? ", channels-last" : "");
  double timed = 0, synced = 0;
  for (int i = 0; i < options.warmup + options.iterations; ++i) {
    const Clock::time_point start = Clock::now();
    ASSIGN_OR_RETURN(trainer::StepStats stats,
                     step->Run(i, static_cast<int64_t>(i) * config.batch, reals,
                               torch::Tensor()));
    if (device.is_cuda()) torch::cuda::synchronize();
    const double seconds = SecondsSince(start);
    const double sync = group.TakeSyncSeconds();
    const bool warm = i >= options.warmup;
    if (warm) {
      timed += seconds;
      synced += sync;
    }
    out << absl::StrFormat("  iteration %d%s: %.3f s (loss G %.4f, D %.4f)\n", i,
                           warm ? "" : " (warm-up)", seconds,
                           stats.g_loss_sum / stats.rounds,
                           stats.d_loss_sum / stats.rounds);
  }
  result.seconds_per_iteration = timed / options.iterations;
  result.sync_seconds_per_iteration = synced / options.iterations;
  const trainer::ProcessMemory memory = trainer::ReadProcessMemory();
  std::string gpu_memory;
  if (const auto gpu = trainer::ReadDeviceMemory(device)) {
    gpu_memory = absl::StrFormat(", peak GPU memory %.2f GB (reserved %.2f GB)",
                                 gpu->peak_allocated_gb, gpu->peak_reserved_gb);
  }
  out << absl::StrFormat(
      "result: %.3f s/iteration, %.3f img/s, peak RSS %.2f GB%s\n",
      result.seconds_per_iteration, config.batch / result.seconds_per_iteration,
      memory.peak_resident_gb, gpu_memory);
  return result;
}

}  // namespace pgan::tools
