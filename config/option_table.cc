// The option table: every field of TrainingConfig with its flag, rule,
// help, group, resume rule and where a coordinator's job takes it from.
// Adding an option starts here (config/README.md says what else).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "config/field_value.h"
#include "config/metric_name.h"

namespace pgan::config::field_internal {
namespace {

// The key is the member's name, so JSON, proto and C++ cannot drift apart.
#define PGAN_TOP(name) TopRow(&TrainingConfig::name, #name)
#define PGAN_MODEL(name) ModelRow(&ModelConfig::name, #name)

bool IsPowerOfTwo(int x) { return x > 0 && (x & (x - 1)) == 0; }
bool IsDevice(const std::string& d) {
  if (d == "auto" || d == "cpu" || d == "cuda") return true;
  absl::string_view index = d;
  int n = 0;
  return absl::ConsumePrefix(&index, "cuda:") && !index.empty() &&
         std::all_of(index.begin(), index.end(), absl::ascii_isdigit) &&
         absl::SimpleAtoi(index, &n) && n < 1024;
}
constexpr char kLearningRate[] =
    "0 (the cfg's) or a number above 0 and at most 1";
bool IsLearningRate(const double& lr) {
  return std::isfinite(lr) && lr >= 0 && lr <= 1;
}
std::optional<std::string> MetricsViolation(const StringList& metrics) {
  if (static_cast<int>(metrics.size()) > kMaxMetrics) {
    return absl::StrCat("at most ", kMaxMetrics, " metrics, got ",
                        metrics.size());
  }
  for (const std::string& m : metrics) {
    absl::StatusOr<MetricSpec> spec = ParseMetric(m);
    if (!spec.ok()) return std::string(spec.status().message());
  }
  return std::nullopt;
}

}  // namespace

std::vector<Field> MakeOptionTable() {
  std::vector<Field> fields;
  const auto add = [&fields](Group group, auto&&... rows) {
    (fields.push_back(rows.Build(group)), ...);
  };
  const StringList kCfgs = {"fastgan", "fastgan_lite", "stylegan2"};
  const StringList kNetworks = {"tf_efficientnet_lite0",
                                "tf_efficientnet_lite1"};
  const StringList kBackends = {"auto", "mpi", "nccl"};
  const StringList kAmp = {"off", "bf16"};
  add(Group::kModel,
      PGAN_MODEL(cfg)
          .Flag("--cfg")
          .Help("Generator: fastgan (two convolutions and noise injection per "
                "block), fastgan_lite (one convolution, no noise) or stylegan2 "
                "(mapping network and modulated convolutions, with separable "
                "convolutions in the discriminators, as the reference)")
          .OneOf(kCfgs),
      PGAN_MODEL(resolution)
          .Flag("--res")
          .Help("Image side in pixels (0: the dataset's, as the reference "
                "reads it); must equal the dataset's")
          .Rule("0 (the dataset's) or a power of two from 32 to 1024",
                [](const int& r) {
                  return r == 0 || (IsPowerOfTwo(r) && r >= 32 && r <= 1024);
                }),
      PGAN_MODEL(z_dim)
          .Flag("--z-dim")
          .Help("Latent size (0: the cfg's, as the reference: 256 for "
                "FastGAN, 64 for StyleGAN2)")
          .Rule("0 (the cfg's) or an integer from 1 to 4096",
                [](const int& z) { return z >= 0 && z <= 4096; }),
      PGAN_MODEL(ngf)
          .Flag("--ngf")
          .Help("Generator width: channels at 128 px (the reference: 128)")
          .Between(8, 1024),
      PGAN_MODEL(img_channels)
          .Help("Image channels; the feature network takes RGB")
          .Rule("3 (the feature network takes RGB; convert grayscale "
                "datasets to RGB)",
                [](const int& c) { return c == 3; })
          .Resume(OnResume::kDerived),
      PGAN_MODEL(c_dim)
          .Help("Classes of a conditional model, from the dataset's labels "
                "with --cond (0: unconditional)")
          .Rule("0 (unconditional) to 1000 classes (the reference's "
                "embedding size)",
                [](const int& c) { return c >= 0 && c <= 1000; })
          .Resume(OnResume::kDerived),
      PGAN_MODEL(feature_network)
          .Flag("--feature-network")
          .Help("Frozen feature network: tf_efficientnet_lite0 (the "
                "reference code's) or tf_efficientnet_lite1 (the paper's)")
          .OneOf(kNetworks),
      PGAN_MODEL(cout)
          .Flag("--cout")
          .Help("Projector channels of the first feature scale")
          .Between(1, 1024),
      PGAN_MODEL(expand)
          .Flag("--expand")
          .Help("Double the projector channels from scale to scale"),
      PGAN_MODEL(proj_type)
          .Flag("--proj-type")
          .Help("Projection: 0 raw features, 1 CCM, 2 CCM + CSM")
          .Between(0, 2),
      PGAN_MODEL(num_discs)
          .Flag("--num-discs")
          .Help("Discriminators, on the first N feature scales")
          .Between(1, 4),
      PGAN_MODEL(w_dim)
          .Flag("--w-dim")
          .Help("StyleGAN2: intermediate latent size (the reference: 128)")
          .Between(1, 4096)
          .AbsentInOlderFiles(),
      PGAN_MODEL(cbase)
          .Flag("--cbase")
          .Help("StyleGAN2: capacity multiplier, channels min(cbase / res, "
                "cmax) per resolution (the reference's --cbase)")
          .Between(1, 1 << 24)
          .AbsentInOlderFiles(),
      PGAN_MODEL(cmax)
          .Flag("--cmax")
          .Help("StyleGAN2: maximum channels of a block (the reference's "
                "--cmax)")
          .Between(1, 4096)
          .AbsentInOlderFiles(),
      PGAN_MODEL(map_depth)
          .Flag("--map-depth")
          .Help("StyleGAN2: mapping network layers (2, the reference's "
                "value; its --map-depth is accepted there but not used)")
          .Between(1, 16)
          .AbsentInOlderFiles(),
      PGAN_MODEL(fp32)
          .Flag("--fp32")
          .Help("StyleGAN2: fp32 in every block and no clamping of "
                "convolution outputs (the reference's --fp32; otherwise the 4 "
                "highest resolutions run in fp16 on CUDA)")
          .AbsentInOlderFiles());
  add(Group::kData,
      PGAN_TOP(data)
          .Flag("--data")
          .Help("Dataset zip or folder in the reference's layout (pgan "
                "dataset); on resume it may have moved, its content the same")
          .Required("a dataset is required")
          .Path(PathKind::kInput)
          .Resume(OnResume::kMayChange),
      PGAN_TOP(cond).Flag("--cond").Help(
          "Train a conditional model on the dataset's labels"),
      PGAN_TOP(mirror)
          .Flag("--mirror")
          .Help("Add x-flipped copies of the images"),
      PGAN_TOP(feature_weights)
          .Flag("--feature-weights")
          .Help("timm model.safetensors of the feature network (none: random "
                "features, far below the paper)")
          .Path(PathKind::kInput)
          .Resume(OnResume::kMayChange));
  add(Group::kTraining,
      PGAN_TOP(outdir)
          .Flag("--outdir")
          .Help("Where run directories are created")
          .Required("an output directory is required")
          .Path(PathKind::kOutput)
          .Resume(OnResume::kMayChange)
          .SuppliedBy("JobSpec.output_dir (the run directory is "
                      "<output_dir>/<job id>)"),
      PGAN_TOP(desc)
          .Flag("--desc")
          .Help("Appended to the run directory's name, as the reference's "
                "--desc")
          .Rule("at most 64 letters, digits, '.', '_' or '-'",
                [](const std::string& d) {
                  return d.size() <= 64 &&
                         std::all_of(d.begin(), d.end(), [](char c) {
                           return absl::ascii_isalnum(c) || c == '.' ||
                                  c == '_' || c == '-';
                         });
                })
          .Resume(OnResume::kMayChange)
          .SuppliedBy("the job id (the run directory is <output_dir>/<job "
                      "id>)"),
      PGAN_TOP(batch)
          .Flag("--batch")
          .Help("Total batch over all processes")
          .Between(1, 65536),
      PGAN_TOP(batch_gpu)
          .Flag("--batch-gpu")
          .Help("Samples per forward pass (0: batch / processes); the rest is "
                "gradient accumulation")
          .Between(0, 65536),
      PGAN_TOP(kimg)
          .Flag("--kimg")
          .Help("Training length in thousands of real images shown to D")
          .PositiveUpTo(1e6)
          .Resume(OnResume::kMayChange),
      PGAN_TOP(tick)
          .Flag("--tick")
          .Help("kimg between progress lines")
          .PositiveUpTo(1e6)
          .Resume(OnResume::kMayChange),
      PGAN_TOP(snap)
          .Flag("--snap")
          .Help("Ticks between snapshots")
          .Between(1, 1000000)
          .Resume(OnResume::kMayChange),
      PGAN_TOP(keep_every_kimg)
          .Flag("--keep-every-kimg")
          .Help("Also keep one snapshot per this many kimg (0: the latest "
                "only)")
          .NonNegativeUpTo(1e6)
          .Resume(OnResume::kMayChange),
      PGAN_TOP(seed)
          .Flag("--seed")
          .Help("Random seed: initial weights, projections, data order, "
                "latents and augmentation")
          .Rule("an integer below 2^32 (NumPy's RandomState range)",
                [](const uint64_t& s) { return s <= 0xffffffffull; }),
      PGAN_TOP(restart_every)
          .Flag("--restart-every")
          .Help("Seconds after which the process writes a snapshot at the "
                "next tick and exits with status 75 to be requeued; the same "
                "command run again continues the run directory of the same "
                "description, as the reference's --restart_every (0: off)")
          .Between(0, 100000000)
          .Resume(OnResume::kCurrent)
          .SuppliedBy("the coordinator, which reschedules its jobs itself "
                      "(0)"),
      PGAN_TOP(glr)
          .Flag("--glr")
          .Help("G learning rate (0: the cfg's, as the reference: 2e-4 for "
                "FastGAN, 2e-3 for StyleGAN2; the reference overrides a given "
                "--glr or --dlr with 2e-4 for FastGAN, pgan uses it)")
          .Rule(kLearningRate, IsLearningRate),
      PGAN_TOP(dlr)
          .Flag("--dlr")
          .Help("D learning rate (0: the cfg's, 2e-4 for FastGAN and 2e-3 "
                "for StyleGAN2, as --glr)")
          .Rule(kLearningRate, IsLearningRate),
      PGAN_TOP(d_lazy_quirk)
          .Flag("--d-lazy-quirk")
          .Help("D's optimiser with lr * 16/17 and beta2^(16/17), as the "
                "reference"),
      PGAN_TOP(freezed)
          .Flag("--freezed")
          .Help("Freeze-D: the first N blocks of every mini discriminator "
                "keep their weights (StyleGAN2-ADA's --freezed; for "
                "fine-tuning on small datasets)")
          .Between(0, 8),
      PGAN_TOP(world_invariant)
          .Flag("--world-invariant")
          .Help("on: the same training on any number of processes and "
                "accumulation rounds (spectral norm's power iteration once "
                "per phase instead of once per forward; gradients and "
                "BatchNorm statistics combined over every batch-gpu chunk "
                "in float64); off: the reference's, whose results depend on "
                "that split; auto: on for elastic pool jobs, else off")
          .OneOf({"auto", "on", "off"}),
      PGAN_TOP(ema_kimg)
          .Flag("--ema-kimg")
          .Help("G_ema half-life in kimg (negative: batch * 10 / 32)")
          .Rule("a number from -1000000 to 1000000",
                [](const double& v) {
                  return std::isfinite(v) && std::abs(v) <= 1e6;
                }),
      PGAN_TOP(ema_rampup)
          .Flag("--ema-rampup")
          .Help("G_ema ramp-up: the half-life is at most the kimg so far "
                "times this (0: off)")
          .NonNegativeUpTo(1e6),
      PGAN_TOP(grid_width)
          .Flag("--grid-width")
          .Help("Sample grid width in images (0: the reference's choice for "
                "the resolution, sized for GPUs; at most 8 on a CPU)")
          .Between(0, 64)
          .Resume(OnResume::kMayChange),
      PGAN_TOP(grid_height)
          .Flag("--grid-height")
          .Help("Sample grid height in images (0: the reference's choice; at "
                "most 4 on a CPU)")
          .Between(0, 64)
          .Resume(OnResume::kMayChange));
  add(Group::kMetrics,
      PGAN_TOP(metrics)
          .Flag("--metrics")
          .Help("Quality metrics at every snapshot, comma-separated, the "
                "reference's names: fid50k_full, kid50k_full, pr50k3_full; "
                "fid50k_full_pytorchfid (pytorch-fid's Inception), fd2k_full "
                "(feature network FD), fd64_full... or none")
          .Custom(absl::StrCat("at most ", kMaxMetrics,
                               " names (fid|kid)<N>[k]_full[_pytorchfid], "
                               "pr<N>[k]3_full or fd<N>[k]_full"),
                  MetricsViolation)
          .Resume(OnResume::kMayChange),
      PGAN_TOP(inception)
          .Flag("--inception")
          .Help("NVIDIA's TorchScript Inception (inception-2015-12-05.pt) for "
                "fid*_full and kid*_full; without it an FID is computed as "
                "the feature network's FD, named so")
          .Path(PathKind::kInput)
          .Resume(OnResume::kMayChange),
      PGAN_TOP(inception_pytorchfid)
          .Flag("--inception-pytorchfid")
          .Help("pytorch-fid's Inception-v3 weights (.pth or .safetensors) "
                "for fid*_full_pytorchfid and kid*_full_pytorchfid")
          .Path(PathKind::kInput)
          .Resume(OnResume::kMayChange),
      PGAN_TOP(vgg16)
          .Flag("--vgg16")
          .Help("NVIDIA's TorchScript VGG16 (vgg16.pt) for pr*_full")
          .Path(PathKind::kInput)
          .Resume(OnResume::kMayChange),
      PGAN_TOP(metrics_cache)
          .Flag("--metrics-cache")
          .Help("Dataset statistics cache folder (default: .pgan-stats beside "
                "the dataset)")
          .Path(PathKind::kCache)
          .Resume(OnResume::kMayChange),
      PGAN_TOP(metrics_async)
          .Flag("--metrics-async")
          .Help("Evaluate while training goes on (the results arrive with a "
                "later tick)")
          .Resume(OnResume::kMayChange),
      PGAN_TOP(patience)
          .Flag("--patience")
          .Help("Report a plateau after this many evaluations without a new "
                "best (0: off)")
          .Between(0, 1000000)
          .Resume(OnResume::kMayChange),
      PGAN_TOP(collapse_ratio)
          .Flag("--collapse-ratio")
          .Help("Report a collapse when the metric exceeds its best by this "
                "factor (0: off)")
          .Rule("0 (off) or a number above 1 and at most 1000000",
                [](const double& v) {
                  return v == 0 || (std::isfinite(v) && v > 1 && v <= 1e6);
                })
          .Resume(OnResume::kMayChange),
      PGAN_TOP(stop_early)
          .Flag("--stop-early")
          .Help("Stop at a plateau or collapse (the best snapshot is kept)")
          .Resume(OnResume::kMayChange));
  add(Group::kExecution,
      PGAN_TOP(workers)
          .Flag("--workers")
          .Help("Image decoding threads")
          .Between(1, 64)
          .Resume(OnResume::kCurrent),
      PGAN_TOP(threads)
          .Flag("--threads")
          .Help("LibTorch CPU threads (0: LibTorch's default; in a pool job, "
                "the worker's CPU slots)")
          .Between(0, 1024)
          .Resume(OnResume::kCurrent),
      PGAN_TOP(device)
          .Flag("--device")
          .Help("auto, cpu, cuda or cuda:N (several processes on a host take "
                "a GPU each by local rank)")
          .Rule("auto, cpu, cuda or cuda:N", IsDevice)
          .Resume(OnResume::kCurrent)
          .SuppliedBy("resources.gpus_per_worker (cuda:0 on a GPU worker, "
                      "else cpu)"),
      PGAN_TOP(nobench)
          .Flag("--nobench")
          .Help("Disable cuDNN benchmarking (on otherwise, as the "
                "reference's --nobench)")
          .Resume(OnResume::kCurrent),
      PGAN_TOP(allow_tf32)
          .Flag("--allow-tf32")
          .Help("Allow TF32 in CUDA matmuls and cuDNN convolutions (off, as "
                "the reference's training loop: it changes the results)")
          .Resume(OnResume::kCurrent),
      PGAN_TOP(amp)
          .Flag("--amp")
          .Help("Mixed precision of the training phases: off (fp32, as the "
                "reference) or bf16 (autocast for G, D and the feature "
                "network; fp32 weights and Adam state)")
          .OneOf(kAmp)
          .Resume(OnResume::kCurrent),
      PGAN_TOP(channels_last)
          .Flag("--channels-last")
          .Help("Channels-last (NHWC) weights and activations in training")
          .Resume(OnResume::kCurrent),
      PGAN_TOP(backend)
          .Flag("--backend")
          .Help("Under mpirun: auto (NCCL on GPUs where built, else MPI), mpi "
                "or nccl")
          .OneOf(kBackends)
          .Resume(OnResume::kCurrent)
          .SuppliedBy("the pool (Gloo gangs on CPUs, NCCL on GPUs)"),
      PGAN_TOP(comm_timeout)
          .Flag("--comm-timeout")
          .Help("Seconds a rank waits for the others at a collective before "
                "the job is aborted")
          .PositiveUpTo(86400)
          .Resume(OnResume::kCurrent)
          .SuppliedBy("each pool worker's pgan-worker --comm-timeout"),
      PGAN_TOP(bucket_mb)
          .Flag("--bucket-mb")
          .Help("Largest fused gradient buffer of one all-reduce, MiB")
          .PositiveUpTo(65536)
          .Resume(OnResume::kCurrent));
  return fields;
}

#undef PGAN_TOP
#undef PGAN_MODEL

}  // namespace pgan::config::field_internal
