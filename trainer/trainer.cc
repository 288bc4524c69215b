#include "trainer/trainer.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "config/fields.h"
#include "trainer/device.h"
#include "trainer/feature_weights.h"
#include "trainer/precision.h"
#include "trainer/progress_report.h"
#include "trainer/root_work.h"
#include "trainer/run_dir.h"
#include "trainer/sample_grid.h"
#include "trainer/state_dict.h"
#include "trainer/torch_status.h"

namespace pgan::trainer {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::vector<std::string> ParameterNames(const torch::nn::Module& module) {
  std::vector<std::string> names;
  for (const auto& item : module.named_parameters())
    names.push_back(item.key());
  return names;
}

}  // namespace

Optimizers MakeOptimizers(Networks& nets,
                          const config::TrainingConfig& config) {
  const double d_ratio = config.d_lazy_quirk ? 16.0 / 17.0 : 1.0;
  Optimizers out;
  out.g = std::make_unique<Adam>(nets.G->parameters(), ParameterNames(*nets.G),
                                 AdamOptions{config.glr, 0.0, 0.99, 1e-8});
  out.d = std::make_unique<Adam>(
      nets.D->trainable_parameters(), nets.D->trainable_parameter_names(),
      AdamOptions{config.dlr * d_ratio, 0.0, std::pow(0.99, d_ratio), 1e-8});
  return out;
}

std::string RunDescription(const config::TrainingConfig& config,
                           int world_size) {
  return absl::StrCat(
      absl::StrFormat("%s-%s-gpus%d-batch%d", config.model.cfg,
                      fs::path(config.data).stem().string(), world_size,
                      config.batch),
      config.desc.empty() ? "" : "-", config.desc);
}

absl::StatusOr<RunPlan> PlanRun(const config::TrainingConfig& requested,
                                const std::string& resume, int world_size,
                                config::Surface surface) {
  RunPlan plan;
  plan.config = requested;
  if (resume == "latest" || resume == "auto" || requested.restart_every > 0) {
    // These look for the run under outdir.
    RETURN_IF_ERROR(
        config::CheckField(*config::FindField("outdir"), requested, surface));
  }
  if (requested.restart_every > 0) {
    // As the reference: the run of this description, if there is one,
    // before --resume (which named where the first attempt started from).
    ASSIGN_OR_RETURN(
        const std::string dir,
        FindRunDir(requested.outdir, RunDescription(requested, world_size)));
    if (!dir.empty() && !ListSnapshots(dir).empty()) {
      ASSIGN_OR_RETURN(plan.resume_path, ResolveResume(dir, requested.outdir));
    } else if (!dir.empty()) {
      plan.run_dir = dir;
    }
  }
  if (!resume.empty() && plan.resume_path.empty()) {
    ASSIGN_OR_RETURN(plan.resume_path, ResolveResume(resume, requested.outdir));
  }
  if (!plan.resume_path.empty()) {
    ASSIGN_OR_RETURN(const bool snapshot, IsTrainingSnapshot(plan.resume_path));
    if (!snapshot) {
      plan.init_network = std::exchange(plan.resume_path, "");
      ASSIGN_OR_RETURN(const config::ModelConfig network,
                       ReadNetworkConfig(plan.init_network));
      ASSIGN_OR_RETURN(plan.config,
                       config::ForInitialNetwork(requested, network,
                                                 plan.init_network, surface));
    }
  }
  if (!plan.resume_path.empty()) {
    ASSIGN_OR_RETURN(TrainingState state, ReadSnapshotState(plan.resume_path));
    // Snapshots from before --world-invariant trained as the reference.
    state.config.ResolveWorldInvariant(/*elastic=*/false);
    RETURN_IF_ERROR(config::MergeForResume(requested, &state.config, surface));
    plan.config = std::move(state.config);
    plan.progress = state.progress;
    plan.run_dir.clear();
  }
  // The cfg's latent size and learning rates where they are not given, so
  // that the run records its real values.
  plan.config.ResolveCfgDefaults();
  // A pool job's "auto" was resolved with its elasticity already
  // (worker/job_proto.cc); anything else left at "auto" is not elastic.
  plan.config.ResolveWorldInvariant(/*elastic=*/false);
  RETURN_IF_ERROR(plan.config.Validate(world_size, surface));
  std::error_code ec;
  if (plan.config.model.resolution == 0 && fs::exists(plan.config.data, ec)) {
    // The reference has no --res: the dataset's is the model's. (A dataset
    // that is not there is reported when the run opens it.)
    ImageDatasetOptions probe;
    probe.use_labels = false;
    probe.check_all_images = false;
    ASSIGN_OR_RETURN(std::unique_ptr<ImageDataset> dataset,
                     ImageDataset::Open(plan.config.data, probe));
    plan.config.model.resolution = dataset->resolution();
    RETURN_IF_ERROR(plan.config.Validate(world_size, surface));
  }
  return plan;
}

absl::Status DryRun(const config::TrainingConfig& requested,
                    const std::string& resume, int world_size,
                    config::Surface surface, std::ostream& out) {
  ASSIGN_OR_RETURN(RunPlan plan,
                   PlanRun(requested, resume, world_size, surface));
  out << "The training options of this run on " << world_size << " process"
      << (world_size > 1 ? "es" : "");
  if (!plan.resume_path.empty()) {
    out << ", resuming " << plan.resume_path << " at kimg "
        << plan.progress.cur_nimg / 1000.0;
  }
  if (!plan.init_network.empty()) {
    out << ", a new run starting from the networks of " << plan.init_network;
  }
  out << ":\n" << plan.config.ToJson().dump(2) << std::endl;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(
    const config::TrainingConfig& config, const std::string& resume,
    TrainerEnvironment env) {
  if (env.group == nullptr) {
    return absl::InvalidArgumentError("Trainer needs a ProcessGroup");
  }
  ASSIGN_OR_RETURN(RunPlan plan, PlanRun(config, resume,
                                         env.group->world_size(), env.surface));
  std::unique_ptr<Trainer> trainer(new Trainer());
  trainer->env_ = env;
  trainer->config_ = std::move(plan.config);
  trainer->progress_ = plan.progress;
  trainer->init_network_ = plan.init_network;
  trainer->start_time_ = Clock::now();
  if (!plan.resume_path.empty()) {
    trainer->run_dir_ = fs::path(plan.resume_path).parent_path().string();
  } else if (trainer->env_.run_dir.empty()) {
    trainer->env_.run_dir = plan.run_dir;
  }
  RETURN_IF_ERROR(trainer->Setup(plan));
  if (!plan.resume_path.empty() && trainer->is_rank0()) {
    trainer->Log(absl::StrFormat("Resuming at kimg %.3f of %g from %s",
                                 trainer->progress_.cur_nimg / 1000.0,
                                 trainer->config_.kimg, plan.resume_path));
  }
  if (!plan.init_network.empty() && trainer->is_rank0()) {
    trainer->Log(absl::StrFormat(
        "A new run from the G, G_ema and D of %s (kimg 0, no G_ema ramp-up; "
        "--resume of a snapshot continues a run instead)",
        plan.init_network));
  }
  return trainer;
}

// The steps, in order: each needs what the ones before it made.
absl::Status Trainer::Setup(const RunPlan& plan) {
  SetIntraOpThreads(config_.threads);
  ASSIGN_OR_RETURN(const c10::Device device, PickDevice());
  SetGpuNumerics(config_.allow_tf32, config_.nobench);
  grid_ = ResolveGridSize(config_.model.resolution, config_.grid_width,
                          config_.grid_height, device.is_cuda());
  if (const GridSize reference =
          ResolveGridSize(config_.model.resolution, config_.grid_width,
                          config_.grid_height, /*on_gpu=*/true);
      reference.width != grid_.width || reference.height != grid_.height) {
    grid_note_ = absl::StrFormat(
        " (on a CPU; the reference's %dx%d is sized for GPUs: "
        "--grid-width, --grid-height)",
        reference.width, reference.height);
  }
  RETURN_IF_ERROR(OpenDataset());
  RETURN_IF_ERROR(BuildNetworksAndOptimizers(device, plan));
  RETURN_IF_ERROR(BuildStepAndLoader());
  if (run_dir_.empty() && is_rank0()) RETURN_IF_ERROR(CreateRunDirectory());
  return PrepareEvaluation(device);
}

absl::StatusOr<c10::Device> Trainer::PickDevice() const {
  // Several processes on a host take one GPU each, by local rank.
  std::string device_spec = config_.device;
  if (env_.group->world_size() > 1 &&
      (device_spec == "auto" || device_spec == "cuda") &&
      torch::cuda::is_available()) {
    device_spec = absl::StrCat("cuda:", env_.group->local_rank());
  }
  return ResolveDevice(device_spec);
}

absl::Status Trainer::OpenDataset() {
  ImageDatasetOptions dataset_options;
  dataset_options.xflip = config_.mirror;
  dataset_options.use_labels = config_.cond;
  dataset_options.gray_to_rgb = true;  // The feature network takes RGB.
  ASSIGN_OR_RETURN(dataset_, ImageDataset::Open(config_.data, dataset_options));
  config::ModelConfig& model = config_.model;
  if (dataset_->resolution() != model.resolution) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--res ", model.resolution, ": the dataset ", config_.data, " holds ",
        dataset_->resolution(), "x", dataset_->resolution(), " images"));
  }
  if (config_.cond && !dataset_->has_labels()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cond: the dataset ", config_.data,
                     " has no labels in dataset.json"));
  }
  model.c_dim = config_.cond ? static_cast<int>(dataset_->label_dim()) : 0;
  return model.Validate();
}

absl::Status Trainer::BuildNetworksAndOptimizers(c10::Device device,
                                                 const RunPlan& plan) {
  const std::string& resume_path = plan.resume_path;
  // Initial weights (and the random projections) follow from the seed.
  torch::manual_seed(config_.seed);
  ASSIGN_OR_RETURN(nets_, BuildNetworks(config_.model));
  RETURN_IF_ERROR(CatchTorch("preparing the networks", [&]() -> absl::Status {
    EfficientNetTrunkImpl& trunk = *nets_.D->feature_network->pretrained;
    if (!plan.init_network.empty()) {
      // Every weight, the feature network's and the projections' included.
      ASSIGN_OR_RETURN(Networks init, LoadNetworkFile(plan.init_network));
      CopyState(*init.G, *nets_.G);
      CopyState(*init.G_ema, *nets_.G_ema);
      CopyState(*init.D, *nets_.D);
    } else if (!config_.feature_weights.empty()) {
      RETURN_IF_ERROR(
          LoadFeatureNetworkWeights(trunk, config_.feature_weights));
    } else {
      ReplayReferenceChannelProbe(trunk);
    }
    PlaceForTraining(nets_, device, config_.channels_last);
    return absl::OkStatus();
  }));
  nets_.D->set_frozen_blocks(config_.freezed);
  Optimizers optimizers = MakeOptimizers(nets_, config_);
  g_opt_ = std::move(optimizers.g);
  d_opt_ = std::move(optimizers.d);
  if (!resume_path.empty()) {
    RETURN_IF_ERROR(LoadSnapshot(resume_path, nets_, *g_opt_, *d_opt_,
                                 GradientDivisor()));
  }
  if (env_.group->world_size() == 1) return absl::OkStatus();
  // Every rank starts from rank 0's networks, the random projections and
  // BatchNorm statistics included. (On resume all ranks loaded the same
  // snapshot; this also makes them agree if it was rewritten meanwhile.)
  std::vector<torch::Tensor> state;
  for (torch::nn::Module* m :
       {static_cast<torch::nn::Module*>(nets_.G.get()),
        static_cast<torch::nn::Module*>(nets_.G_ema.get()),
        static_cast<torch::nn::Module*>(nets_.D.get())}) {
    for (auto& [key, tensor] : StateDict(*m)) state.push_back(tensor);
  }
  return env_.group->BroadcastFromRoot(state);
}

absl::Status Trainer::BuildStepAndLoader() {
  const int world = env_.group->world_size();
  const BatchLayout layout{env_.group->rank(), world, config_.batch,
                           config_.BatchGpu(world)};
  ASSIGN_OR_RETURN(StepOptions step_options, MakeStepOptions(config_, layout));
  if (config_.model.conditional()) {
    std::vector<torch::Tensor> labels;
    for (int64_t i = 0; i < dataset_->size(); ++i)
      labels.push_back(dataset_->Label(i));
    step_options.label_table = torch::stack(labels);
  }
  step_ = std::make_unique<TrainingStep>(&nets_, g_opt_.get(), d_opt_.get(),
                                         env_.group, step_options);

  // The sampler's position is a function of the iteration, so a resumed run
  // reads the images the original would have read.
  InfiniteSamplerOptions sampler_options;
  sampler_options.size = dataset_->size();
  sampler_options.seed = static_cast<uint32_t>(config_.seed);
  ASSIGN_OR_RETURN(InfiniteSampler sampler,
                   InfiniteSampler::Create(
                       sampler_options, progress_.batch_idx * config_.batch));
  DataLoaderOptions loader_options;
  loader_options.batch_size = layout.per_process();
  loader_options.skip_before =
      static_cast<int64_t>(layout.rank) * layout.per_process();
  loader_options.skip_after =
      static_cast<int64_t>(world - 1 - layout.rank) * layout.per_process();
  loader_options.num_threads = config_.workers;
  // Batches for a GPU in page-locked memory: its copy to the device does not
  // wait for the host (TrainingStep copies with non_blocking).
  loader_options.pin_memory = nets_.G->parameters().front().is_cuda();
  ASSIGN_OR_RETURN(loader_, DataLoader::Create(dataset_, std::move(sampler),
                                               loader_options));
  return absl::OkStatus();
}

absl::Status Trainer::CreateRunDirectory() {
  if (!env_.run_dir.empty()) {
    std::error_code ec;
    fs::create_directories(env_.run_dir, ec);
    if (ec) {
      return absl::PermissionDeniedError(absl::StrCat(
          "run directory ", env_.run_dir, ": cannot create: ", ec.message()));
    }
    run_dir_ = env_.run_dir;
  } else {
    ASSIGN_OR_RETURN(run_dir_,
                     CreateRunDir(config_.outdir,
                                  RunDescription(config_,
                                                 env_.group->world_size())));
  }
  nlohmann::json options = config_.ToJson();
  if (!init_network_.empty()) options["resume_pkl"] = init_network_;
  return WriteFileAtomically(
      (fs::path(run_dir_) / "training_options.json").string(),
      options.dump(2) + "\n");
}

absl::Status Trainer::PrepareEvaluation(c10::Device device) {
  ASSIGN_OR_RETURN(evaluator_, SnapshotEvaluator::Create(
                                   config_, nets_, dataset_, env_.group, device,
                                   is_rank0() ? env_.log : nullptr,
                                   env_.fallback_stats_cache));
  if (evaluator_ == nullptr) return absl::OkStatus();
  return evaluator_->Prepare(is_rank0() ? run_dir_ : std::string(),
                             progress_.cur_nimg / 1000.0);
}

void Trainer::Log(const std::string& line) {
  if (!is_rank0()) return;
  if (env_.log != nullptr) *env_.log << line << std::endl;
  if (!run_dir_.empty()) {
    std::ofstream((fs::path(run_dir_) / "log.txt").string(), std::ios::app)
        << line << "\n";
  }
}

absl::StatusOr<RunEnd> Trainer::Run(int64_t max_iterations) {
  const int64_t total_nimg = static_cast<int64_t>(config_.kimg * 1000);
  const int64_t batch = config_.batch;
  if (progress_.batch_idx == 0) {
    if (is_rank0()) {
      Log(absl::StrFormat("Training for %g kimg in %s", config_.kimg,
                          run_dir_));
      Log(absl::StrFormat("Sample grids of %dx%d images%s", grid_.width,
                          grid_.height, grid_note_));
    }
    RETURN_IF_ERROR(OnRoot("rendering the initial sample grid", [&] {
      RETURN_IF_ERROR(WriteRealsGrid(
          (fs::path(run_dir_) / "reals.png").string(), *dataset_, grid_));
      return WriteFakesGrid((fs::path(run_dir_) / "fakes_init.png").string(),
                            nets_.G_ema, grid_, config_.seed,
                            config_.BatchGpu(1));
    }));
  }
  tick_start_time_ = Clock::now();
  const bool starting_fresh = progress_.cur_tick == 0;
  int64_t iterations = 0;
  while (progress_.cur_nimg < total_nimg) {
    ASSIGN_OR_RETURN(Batch real, loader_->Next());
    ASSIGN_OR_RETURN(StepStats stats,
                     step_->Run(progress_.batch_idx, progress_.cur_nimg,
                                real.images, real.labels));
    progress_.cur_nimg += batch;
    progress_.batch_idx += 1;
    progress_.nonfinite_grads += stats.nonfinite_grads;
    AccumulateStats(stats, &tick_stats_);
    ++iterations;

    const bool done = progress_.cur_nimg >= total_nimg;
    ASSIGN_OR_RETURN(const bool stop_signal, AgreeOnStop());
    // Every rank has the same metrics, hence the same verdict.
    const bool converged = evaluator_ != nullptr && evaluator_->should_stop();
    const bool stop = stop_signal || converged ||
                      (max_iterations > 0 && iterations >= max_iterations);
    // As the reference: tick 0 right after the first iteration, then every
    // `tick` kimg.
    const bool tick_due =
        (starting_fresh && progress_.cur_tick == 0) ||
        progress_.cur_nimg >= progress_.tick_start_nimg + config_.tick * 1000;
    bool restart = false;
    if (tick_due && !done) {
      ASSIGN_OR_RETURN(restart, AgreeOnRestart());
    }
    if (restart) {
      Log(absl::StrFormat(
          "Restart job: --restart-every %d s have passed; the snapshot of "
          "this tick is the one to continue from (exit status %d)",
          config_.restart_every, kExitRestart));
    }
    // A restart's tick is the last of this process, as the reference's.
    if (done || tick_due) RETURN_IF_ERROR(EndTick(done || restart));
    if (restart) return RunEnd::kRestart;
    if (evaluator_ != nullptr && evaluator_->should_stop() && !done) {
      Log("Stopping early: the best snapshot is " +
          evaluator_->best_snapshot());
      RETURN_IF_ERROR(WriteSnapshot());
      return RunEnd::kFinished;
    }
    if (stop) {
      if (stop_signal && !done) {
        Log("Stopping: writing a snapshot to resume from");
        RETURN_IF_ERROR(WriteSnapshot());
        return RunEnd::kStopped;
      }
      return RunEnd::kFinished;
    }
  }
  return RunEnd::kFinished;
}

absl::StatusOr<bool> Trainer::AgreeOnRestart() {
  if (config_.restart_every <= 0) return false;
  const bool due = Seconds(Clock::now() - start_time_) > config_.restart_every;
  if (env_.group->world_size() == 1) return due;
  // Rank 0's clock decides, as the reference broadcasts its __RESTART__.
  ASSIGN_OR_RETURN(std::vector<uint64_t> flags, env_.group->GatherValues(due));
  return flags[0] != 0;
}

absl::StatusOr<bool> Trainer::AgreeOnStop() {
  bool stop = env_.stop_flag != nullptr && env_.stop_flag->load();
  if (env_.group->world_size() == 1) return stop;
  // A signal reaches the ranks at different moments: all stop at the same
  // iteration, or the next collective would wait for the ones that left.
  ASSIGN_OR_RETURN(std::vector<uint64_t> flags, env_.group->GatherValues(stop));
  for (uint64_t flag : flags) stop = stop || flag != 0;
  return stop;
}

absl::Status Trainer::CheckRanksAgree() {
  if (env_.group->world_size() == 1) return absl::OkStatus();
  ASSIGN_OR_RETURN(
      const uint64_t fingerprint,
      CatchTorchOr<uint64_t>(
          "fingerprinting the parameters", [&]() -> absl::StatusOr<uint64_t> {
            std::vector<torch::Tensor> params = nets_.G->parameters();
            for (const torch::Tensor& p : nets_.D->trainable_parameters()) {
              params.push_back(p);
            }
            if (config_.WorldInvariant()) {
              // Spectral norm's vectors and BatchNorm's statistics agree
              // too (trainer/world_invariant.h).
              for (const torch::Tensor& b : nets_.G->buffers()) params.push_back(b);
              for (const torch::Tensor& b : nets_.D->buffers()) params.push_back(b);
            }
            return ParameterFingerprint(params);
          }));
  ASSIGN_OR_RETURN(std::vector<uint64_t> all,
                   env_.group->GatherValues(fingerprint));
  std::vector<std::string> differing;
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r] != all[0]) differing.push_back(std::to_string(r));
  }
  if (differing.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(
      "the parameters of rank(s) ", absl::StrJoin(differing, ", "),
      " differ from rank 0's at tick ", progress_.cur_tick, " (kimg ",
      progress_.cur_nimg / 1000.0,
      "): the ranks diverged (a hardware fault, or ranks built differently); "
      "stopping rather than training on"));
}

absl::Status Trainer::EndTick(bool done) {
  RETURN_IF_ERROR(CheckRanksAgree());
  if (env_.group->world_size() > 1) {
    // Losses and logit statistics are per rank; the scrub counts the summed
    // gradients, the same on every rank.
    const int64_t nonfinite = tick_stats_.nonfinite_grads;
    std::vector<double> sums = ToValues(tick_stats_);
    RETURN_IF_ERROR(env_.group->SumValues(sums));
    tick_stats_ = FromValues(sums);
    tick_stats_.nonfinite_grads = nonfinite;
  }
  const Clock::time_point now = Clock::now();
  const double tick_seconds = Seconds(now - tick_start_time_);
  progress_.training_seconds += tick_seconds;
  const double tick_kimg =
      (progress_.cur_nimg - progress_.tick_start_nimg) / 1000.0;
  const double sec_per_kimg = tick_kimg > 0 ? tick_seconds / tick_kimg : 0;
  const double kimg = progress_.cur_nimg / 1000.0;
  const double eta = std::max(0.0, config_.kimg - kimg) * sec_per_kimg;
  const ProcessMemory memory = ReadProcessMemory();
  config::TickReport report;
  FillStepStats(tick_stats_, &report);
  report.tick = progress_.cur_tick;
  report.kimg = kimg;
  report.iterations = progress_.batch_idx;
  report.sec_per_tick = tick_seconds;
  report.sec_per_kimg = sec_per_kimg;
  report.maintenance_sec = maintenance_seconds_;
  report.total_sec = progress_.training_seconds;
  report.eta_sec = eta;
  report.cpumem_gb = memory.resident_gb;
  report.cpumem_peak_gb = memory.peak_resident_gb;
  const c10::Device device = nets_.G->parameters().front().device();
  if (const std::optional<DeviceMemory> gpu = ReadDeviceMemory(device)) {
    report.gpumem_gb = gpu->allocated_gb;
    report.gpumem_peak_gb = gpu->peak_allocated_gb;
    report.gpumem_reserved_gb = gpu->peak_reserved_gb;
    ResetMemoryPeaks(device);  // Peaks per tick, as the reference's.
  }
  report.nonfinite_grads_total = progress_.nonfinite_grads;
  report.timestamp = std::chrono::duration<double>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const Clock::time_point maintenance_start = Clock::now();
  const bool snapshot_due = done || progress_.cur_tick % config_.snap == 0;
  // The tick is complete: a snapshot written now resumes at the next one
  // (not at this one again, which would repeat its tick line).
  progress_.cur_tick += 1;
  progress_.tick_start_nimg = progress_.cur_nimg;
  if (snapshot_due) RETURN_IF_ERROR(WriteSnapshot());
  RETURN_IF_ERROR(Evaluate(snapshot_due, done, &report));
  Log(FormatTickLine(report, config_.kimg));
  if (is_rank0()) {
    std::ofstream((fs::path(run_dir_) / "stats.jsonl").string(), std::ios::app)
        << report.ToJson().dump() << "\n";
    if (env_.observer != nullptr) env_.observer->OnTick(report);
  }
  tick_stats_ = StepStats();
  maintenance_seconds_ = Seconds(Clock::now() - maintenance_start);
  tick_start_time_ = Clock::now();
  return absl::OkStatus();
}

absl::Status Trainer::Evaluate(bool snapshot_written, bool done,
                               config::TickReport* report) {
  if (evaluator_ == nullptr) return absl::OkStatus();
  if (snapshot_written) {
    EvaluationPoint point;
    point.kimg = progress_.cur_nimg / 1000.0;
    point.tick = report->tick;
    point.snapshot =
        (fs::path(run_dir_) / SnapshotFileName(progress_.cur_nimg)).string();
    point.training_seconds = progress_.training_seconds;
    RETURN_IF_ERROR(evaluator_->Start(nets_.G_ema, point, /*wait=*/done));
  }
  ASSIGN_OR_RETURN(std::vector<Evaluation> finished, evaluator_->Poll(done));
  if (finished.empty()) return absl::OkStatus();
  // The newest results go into the report; every one is in metric-*.jsonl.
  finished.back().AddTo(report);
  if (is_rank0()) {
    ApplyRetention(run_dir_, config_.keep_every_kimg,
                   evaluator_->best_snapshot());
  }
  return absl::OkStatus();
}

absl::Status Trainer::WriteSnapshot() {
  return OnRoot("writing the snapshot", [&] { return WriteSnapshotOnRoot(); });
}

int Trainer::GradientDivisor() const {
  // --world-invariant applies the one-process gradient at any world size.
  return config_.WorldInvariant() ? 1 : env_.group->world_size();
}

absl::Status Trainer::WriteSnapshotOnRoot() {
  const fs::path dir(run_dir_);
  const std::string snapshot =
      (dir / SnapshotFileName(progress_.cur_nimg)).string();
  const std::string network =
      (dir / NetworkFileName(progress_.cur_nimg)).string();
  RETURN_IF_ERROR(SaveSnapshot(snapshot, nets_, *g_opt_, *d_opt_,
                               TrainingState{config_, progress_},
                               GradientDivisor()));
  RETURN_IF_ERROR(ExportNetwork(snapshot, network));
  RETURN_IF_ERROR(WriteFakesGrid(
      (dir / absl::StrFormat("fakes%06d.png", progress_.cur_nimg / 1000))
          .string(),
      nets_.G_ema, grid_, config_.seed, config_.BatchGpu(1)));
  // With metrics, retention waits for them (Evaluate): a snapshot still
  // being evaluated may turn out to be the best.
  if (evaluator_ == nullptr) ApplyRetention(run_dir_, config_.keep_every_kimg);
  if (env_.observer != nullptr)
    env_.observer->OnSnapshot(snapshot, network, progress_);
  return absl::OkStatus();
}

absl::Status Trainer::OnRoot(const std::string& what,
                             const std::function<absl::Status()>& work) {
  // Beats well inside the collective timeout, and often enough that a
  // short piece of work costs its peers little more than its length.
  const absl::Duration beat =
      std::min(absl::Seconds(1), absl::Seconds(config_.comm_timeout) / 4);
  return RunOnRoot(*env_.group, what, beat, work);
}

}  // namespace pgan::trainer
