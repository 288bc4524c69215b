#include "tools/train_commands.h"

#include <chrono>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "trainer/device.h"
#include "trainer/feature_weights.h"
#include "trainer/gradient_reducer.h"
#include "trainer/progress_report.h"
#include "trainer/snapshot.h"
#include "trainer/torch_status.h"
#include "trainer/trainer.h"

namespace pgan::tools {

absl::Status RunTrain(const TrainOptions& options, const std::atomic<bool>* stop,
                      std::ostream& out) {
  trainer::LocalGradientReducer reducer;
  trainer::TrainerEnvironment env;
  env.reducer = &reducer;
  env.log = &out;
  env.stop_flag = stop;
  ASSIGN_OR_RETURN(std::unique_ptr<trainer::Trainer> run,
                   trainer::Trainer::Create(options.config, options.resume, env));
  if (options.config.feature_weights.empty() &&
      run->config().feature_weights.empty()) {
    out << "WARNING: no --feature-weights: the feature network is RANDOM. "
           "Training works, but quality stays far below the paper's, which "
           "relies on ImageNet features (timm's "
        << run->config().model.feature_network << " model.safetensors).\n";
  }
  out << "Run directory: " << run->run_dir() << std::endl;
  RETURN_IF_ERROR(run->Run());
  out << "Done at " << run->progress().cur_nimg / 1000.0 << " kimg: "
      << run->run_dir() << std::endl;
  return absl::OkStatus();
}

absl::Status RunExport(const ExportOptions& options, std::ostream& out) {
  RETURN_IF_ERROR(trainer::ExportNetwork(options.snapshot, options.out));
  out << "wrote " << options.out << "\n";
  return absl::OkStatus();
}

absl::Status RunBench(const BenchOptions& options, std::ostream& out) {
  using Clock = std::chrono::steady_clock;
  const trainer::TrainingConfig& config = options.config;
  if (options.iterations < 1 || options.warmup < 0) {
    return absl::InvalidArgumentError("--iters must be >= 1 and --warmup >= 0");
  }
  if (config.batch < 1 || config.BatchGpu(1) < 1 ||
      config.batch % config.BatchGpu(1) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--batch ", config.batch, " must be a positive multiple of --batch-gpu ",
        config.BatchGpu(1)));
  }
  trainer::SetIntraOpThreads(config.threads);
  ASSIGN_OR_RETURN(const c10::Device device, trainer::ResolveDevice(config.device));
  ASSIGN_OR_RETURN(trainer::Networks nets, trainer::BuildNetworks(config.model));
  trainer::LocalGradientReducer reducer;
  trainer::Optimizers optimizers;
  std::unique_ptr<trainer::TrainingStep> step;
  RETURN_IF_ERROR(trainer::CatchTorch("preparing the benchmark", [&]() -> absl::Status {
    auto& trunk = *nets.D->feature_network->pretrained;
    if (!config.feature_weights.empty()) {
      RETURN_IF_ERROR(trainer::LoadFeatureNetworkWeights(trunk, config.feature_weights));
    }
    nets.G->to(device);
    nets.G_ema->to(device);
    nets.D->to(device);
    nets.G->train();
    nets.D->train();
    optimizers = trainer::MakeOptimizers(nets, config);
    trainer::StepOptions step_options;
    step_options.seed = config.seed;
    step_options.layout = {0, 1, config.batch, config.BatchGpu(1)};
    step_options.ema_kimg = config.EmaKimg();
    step_options.ema_rampup = config.ema_rampup;
    step = std::make_unique<trainer::TrainingStep>(
        &nets, optimizers.g.get(), optimizers.d.get(), &reducer, step_options);
    return absl::OkStatus();
  }));
  const int res = config.model.resolution;
  torch::manual_seed(static_cast<uint64_t>(config.seed));
  const torch::Tensor reals =
      torch::randint(0, 256, {config.batch, 3, res, res}, torch::kUInt8);
  out << absl::StrFormat(
      "bench: cfg %s, %dx%d, ngf %d, batch %d (batch_gpu %d), device %s, "
      "%d LibTorch threads\n",
      config.model.cfg, res, res, config.model.ngf, config.batch,
      config.BatchGpu(1), device.str(), torch::get_num_threads());
  double timed = 0;
  for (int i = 0; i < options.warmup + options.iterations; ++i) {
    const Clock::time_point start = Clock::now();
    ASSIGN_OR_RETURN(trainer::StepStats stats,
                     step->Run(i, static_cast<int64_t>(i) * config.batch, reals,
                               torch::Tensor()));
    if (device.is_cuda()) torch::cuda::synchronize();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const bool warm = i >= options.warmup;
    if (warm) timed += seconds;
    out << absl::StrFormat("  iteration %d%s: %.3f s (loss G %.4f, D %.4f)\n", i,
                           warm ? "" : " (warm-up)", seconds,
                           stats.g_loss_sum / stats.rounds,
                           stats.d_loss_sum / stats.rounds);
  }
  const double per_iter = timed / options.iterations;
  const trainer::ProcessMemory memory = trainer::ReadProcessMemory();
  out << absl::StrFormat(
      "result: %.3f s/iteration, %.3f img/s, peak RSS %.2f GB\n", per_iter,
      config.batch / per_iter, memory.peak_resident_gb);
  return absl::OkStatus();
}

}  // namespace pgan::tools
