// The `pgan` command line: parses flags and hands plain option structs to
// the command functions in tools/.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "config/fields.h"
#include "tools/config_flags.h"
#include "tools/dataset_command.h"
#include "tools/fid_command.h"
#include "tools/model_commands.h"
#include "tools/plot_command.h"
#if PGAN_HAVE_SERVICE_COMMANDS
#include "tools/service_commands.h"
#endif
#include "tools/train_commands.h"
#include "tools/video_command.h"
#include "trainer/stats_cache.h"

namespace {

bool IsModelField(const pgan::config::Field& f) {
  return f.group == pgan::config::Group::kModel;
}

// `--cond N`: the class count of a model without a dataset (summary,
// bench); training takes it from the dataset's labels.
void AddClassesFlag(CLI::App* cmd, pgan::config::ModelConfig* model) {
  cmd->add_option("--cond", model->c_dim,
                  "Number of classes for a conditional model (0: unconditional)")
      ->capture_default_str()
      ->group(pgan::config::GroupTitle(pgan::config::Group::kModel));
}

// Set by SIGINT/SIGTERM/SIGUSR1: training stops at the next iteration with a
// snapshot. A second signal kills the process the default way.
std::atomic<bool> g_stop{false};

void HandleStop(int signal) {
  g_stop.store(true);
  std::signal(signal, SIG_DFL);
}

// Open MPI and MPICH/Hydra set these for each rank; PMIx launchers set
// PMIX_RANK.
int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  int n = 0;
  return value != nullptr && absl::SimpleAtoi(value, &n) ? n : fallback;
}

#if PGAN_HAVE_SERVICE_COMMANDS
// What the flags leave empty, from the environment.
void FillFromEnvironment(pgan::tools::ServiceOptions* service) {
  const auto fill = [](std::string* value, const char* name) {
    const char* env = std::getenv(name);
    if (value->empty() && env != nullptr) *value = env;
  };
  fill(&service->address, "PGAN_COORDINATOR");
  fill(&service->token, "PGAN_TOKEN");
  fill(&service->tls_ca, "PGAN_TLS_CA");
  fill(&service->tls_cert, "PGAN_TLS_CERT");
  fill(&service->tls_key, "PGAN_TLS_KEY");
}
#endif

pgan::tools::Launcher ThisLauncher() {
  pgan::tools::Launcher launcher;
  launcher.under_mpi = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr ||
                       std::getenv("PMI_SIZE") != nullptr ||
                       std::getenv("PMIX_RANK") != nullptr;
  launcher.world_size =
      EnvInt("OMPI_COMM_WORLD_SIZE", EnvInt("PMI_SIZE", 1));
  launcher.rank = EnvInt("OMPI_COMM_WORLD_RANK",
                         EnvInt("PMI_RANK", EnvInt("PMIX_RANK", 0)));
  return launcher;
}

// 2 for input the user can fix (a file, a flag), 1 for everything else.
int ExitCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnauthenticated:
      return 2;
    default:
      return 1;
  }
}

constexpr char kForwardBatchHelp[] =
    "Images per forward pass (0: 1 for StyleGAN2, as the reference's scripts, "
    "whose images it then reproduces bit for bit; 16 for FastGAN)";

// --class, --noise-mode, --trunc and --trunc-cutoff, as the reference's
// gen_images.py and gen_video.py name them.
void AddSamplingFlags(CLI::App* cmd, pgan::tools::SamplingFlags* flags) {
  cmd->add_option("--class", flags->class_index,
                  "Class index for conditional networks");
  cmd->add_option("--noise-mode", flags->noise_mode,
                  "random, const (StyleGAN2's stored noise) or none; default: "
                  "the reference's (const for StyleGAN2, random for FastGAN)");
  cmd->add_option("--trunc", flags->truncation_psi,
                  "Truncation psi (StyleGAN2: w pulled towards w_avg)")
      ->capture_default_str();
  cmd->add_option("--trunc-cutoff", flags->truncation_cutoff,
                  "Truncate only the first N ws (0: all)")
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "pgan: train and use Projected GANs (Sauer et al., NeurIPS 2021).\n"
      "Run 'pgan COMMAND --help' for the options of a command."};
  app.require_subcommand(1);

  pgan::tools::SummaryOptions summary;
  pgan::config::TrainingConfig summary_config;  // Its model is the summary's.
  summary_config.model.resolution = 256;  // No dataset to take it from.
  CLI::App* summary_cmd = app.add_subcommand(
      "summary", "Print the parameter table of a model configuration");
  pgan::tools::AddConfigFlags(summary_cmd, &summary_config, IsModelField);
  AddClassesFlag(summary_cmd, &summary_config.model);
  summary_cmd->add_option("--feature-weights", summary.feature_weights,
                          "timm model.safetensors for the feature network");
  summary_cmd->add_flag("--json", summary.json, "Print the totals as JSON");

  pgan::tools::GenerateOptions generate;
  std::string seeds;
  CLI::App* generate_cmd = app.add_subcommand(
      "generate", "Generate images with G_ema of a network file");
  generate_cmd->add_option("--network", generate.network, "Network file")
      ->required();
  generate_cmd->add_option("--latents", generate.latents,
                           "float32 .npy of shape [N, z_dim]");
  generate_cmd->add_option("--seeds", seeds,
                           "Seeds like 0-15,20 (latents as the reference's "
                           "gen_images.py)");
  generate_cmd->add_option("--outdir", generate.outdir, "Output directory")
      ->required();
  AddSamplingFlags(generate_cmd, &generate.sampling);
  generate_cmd->add_option("--batch", generate.batch, kForwardBatchHelp)
      ->capture_default_str();
  generate_cmd->add_option("--noise-seed", generate.noise_seed,
                           "Seed of the injected noise")
      ->capture_default_str();
  generate_cmd->add_option("--device", generate.device, "auto, cpu, cuda[:N]")
      ->capture_default_str();

  pgan::tools::VideoCommandOptions video;
  std::string video_seeds, video_grid = "1x1";
  int64_t video_shuffle_seed = -1;
  CLI::App* video_cmd = app.add_subcommand(
      "video",
      "Render a latent interpolation video with G_ema of a network file, as "
      "the reference's gen_video.py");
  video_cmd->add_option("--network", video.network, "Network file")->required();
  video_cmd->add_option("--seeds", video_seeds,
                        "Keyframe seeds like 0-31 (latents as gen_images.py)")
      ->required();
  video_cmd->add_option("--shuffle-seed", video_shuffle_seed,
                        "Shuffle the seeds with this NumPy seed");
  video_cmd->add_option("--grid", video_grid, "Cells, WxH")
      ->capture_default_str();
  video_cmd->add_option("--num-keyframes", video.num_keyframes,
                        "Keyframes per cell (default: seeds / cells)");
  video_cmd->add_option("--w-frames", video.w_frames,
                        "Frames from one keyframe to the next")
      ->capture_default_str();
  video_cmd->add_option("--output", video.output, "H.264 .mp4 to write");
  video_cmd->add_option("--frames", video.frames, "Folder for PNG frames");
  video_cmd->add_option("--fps", video.fps, "Frames per second of the MP4")
      ->capture_default_str();
  AddSamplingFlags(video_cmd, &video.sampling);
  video_cmd->add_option("--batch", video.batch, kForwardBatchHelp)
      ->capture_default_str();
  video_cmd->add_option("--noise-seed", video.noise_seed,
                        "Seed of the injected noise")
      ->capture_default_str();
  video_cmd->add_option("--device", video.device, "auto, cpu, cuda[:N]")
      ->capture_default_str();

  pgan::tools::ScoreOptions score;
  CLI::App* score_cmd = app.add_subcommand(
      "score", "Score image files with the discriminator of a network file");
  score_cmd->add_option("--network", score.network, "Network file")->required();
  score_cmd->add_option("--images", score.images, "Directory of PNG/JPEG files")
      ->required();
  score_cmd->add_option("--class", score.class_index,
                        "Class index for conditional networks");
  score_cmd->add_option("--batch", score.batch, "Images per forward pass")
      ->capture_default_str();
  score_cmd->add_flag("--json", score.json, "Print {\"files\", \"scores\"}");
  score_cmd->add_option("--device", score.device, "auto, cpu, cuda[:N]")
      ->capture_default_str();

  pgan::tools::TrainOptions train;
  CLI::App* train_cmd = app.add_subcommand(
      "train",
      "Train a Projected GAN. Every option is also a job-file key (the "
      "flag's name with underscores) and, but for outdir, device, backend "
      "and comm_timeout, a job spec's training.<field>; config/README.md "
      "lists them");
  pgan::tools::AddConfigFlags(train_cmd, &train.config);
  pgan::tools::AddGridFlag(train_cmd, &train.config);
  train_cmd->add_option(
      "--resume", train.resume,
      "Continue a run exactly: latest, auto (latest if any, else a fresh "
      "run), a run directory or a snapshot file (snapshot-*.safetensors). "
      "Or start a NEW run from a network file's G, G_ema and D (a "
      "network-snapshot-*.safetensors, or a reference .pkl converted by "
      "tools/convert_pkl.py): kimg 0, no G_ema ramp-up, as the reference's "
      "--resume");
  train_cmd->add_flag("-n,--dry-run", train.dry_run,
                      "Print the run's validated training options and exit");

  pgan::tools::FidOptions fid;
  CLI::App* fid_cmd = app.add_subcommand(
      "metrics",
      "Quality metrics of a network or of two image sets, the reference's "
      "calc_metrics.py (alias: fid)");
  fid_cmd->alias("fid");
  fid_cmd->add_option("--metrics", fid.metrics,
                      "The reference's names, comma-separated: fid50k_full, "
                      "kid50k_full, pr50k3_full; fid50k_full_pytorchfid, "
                      "fd2k_full (default: fid50k_full; with --fake, "
                      "fid<N>_full of its N images)")
      ->delimiter(',');
  fid_cmd->add_option("--network", fid.network, "Network or snapshot file");
  fid_cmd->add_option("--data", fid.data, "Dataset zip or folder to compare with");
  fid_cmd->add_option("--real", fid.real, "Folder or zip of real images");
  fid_cmd->add_option("--fake", fid.fake, "Folder or zip of generated images");
  fid_cmd->add_option("--inception", fid.inception,
                      "NVIDIA's TorchScript Inception (inception-2015-12-05.pt)");
  fid_cmd->add_option("--inception-pytorchfid", fid.inception_pytorchfid,
                      "pytorch-fid's Inception-v3 weights (.pth or "
                      ".safetensors), for *_pytorchfid");
  fid_cmd->add_option("--vgg16", fid.vgg16,
                      "NVIDIA's TorchScript VGG16 (vgg16.pt), for pr*_full");
  fid_cmd->add_option("--feature-weights", fid.feature_weights,
                      "timm EfficientNet-Lite0 weights, for FD on folders");
  fid_cmd->add_option("--metrics-cache", fid.metrics_cache,
                      "Dataset statistics cache folder");
  fid_cmd->add_option("--batch", fid.batch, "Images per forward pass")
      ->capture_default_str();
  fid_cmd->add_flag("--json", fid.json,
                    "Print one metric-<name>.jsonl record per metric");
  fid_cmd->add_option("--device", fid.device, "cpu, cuda, cuda:N or auto")
      ->capture_default_str();

  pgan::tools::ExportOptions export_options;
  CLI::App* export_cmd = app.add_subcommand(
      "export", "Write the reference-compatible network file of a snapshot");
  export_cmd->add_option("--snapshot", export_options.snapshot, "Training snapshot")
      ->required();
  export_cmd->add_option("--out", export_options.out, "Network file to write")
      ->required();

  pgan::tools::BenchOptions bench;
  bench.config.model.cfg = "fastgan_lite";
  bench.config.model.resolution = 128;
  bench.config.batch = 8;
  CLI::App* bench_cmd = app.add_subcommand(
      "bench", "Time full training iterations on random data");
  // What an iteration's cost depends on; no dataset, nothing written.
  pgan::tools::AddConfigFlags(
      bench_cmd, &bench.config, [](const pgan::config::Field& f) {
        return IsModelField(f) || f.group == pgan::config::Group::kExecution ||
               f.key == "batch" || f.key == "batch_gpu" || f.key == "glr" ||
               f.key == "dlr" || f.key == "d_lazy_quirk" || f.key == "seed" ||
               f.key == "feature_weights";
      });
  AddClassesFlag(bench_cmd, &bench.config.model);
  bench_cmd->add_option("--iters", bench.iterations, "Timed iterations")
      ->capture_default_str();
  bench_cmd->add_option("--warmup", bench.warmup, "Untimed iterations first")
      ->capture_default_str();
  bench_cmd->add_flag("--comm", bench.comm_bench,
                      "Under mpirun: also time the gradient sync against a "
                      "plain all-reduce of the same bytes");
  bench_cmd->add_option("--comm-iters", bench.comm_iterations,
                        "Timed gradient syncs for --comm")
      ->capture_default_str();

  pgan::tools::DatasetOptions dataset;
  CLI::App* dataset_cmd = app.add_subcommand(
      "dataset",
      "Convert images or MNIST/Fashion-MNIST into a dataset zip in the "
      "reference's layout (stored PNGs + dataset.json). Gray images always "
      "become RGB: the model needs 3 channels");
  dataset_cmd->add_option("--source", dataset.source,
                          "Folder (recursive), .zip, or *-images-idx3-ubyte.gz "
                          "(labels from *-labels-idx1-ubyte.gz beside it)")
      ->required();
  dataset_cmd->add_option("--dest", dataset.dest, "Dataset .zip to write")
      ->required();
  dataset_cmd->add_option("--resolution", dataset.resolution,
                          "Output side, a power of two (0: the source's size); "
                          "Lanczos resize as the reference")
      ->capture_default_str();
  dataset_cmd->add_option("--transform", dataset.transform,
                          "center-crop: crop the centred square, then resize");
  dataset_cmd->add_option("--max-images", dataset.max_images,
                          "Convert only the first N images (-1: all)")
      ->capture_default_str();

  pgan::tools::PlotOptions plot;
  CLI::App* plot_cmd = app.add_subcommand(
      "plot", "Draw a run's curves (metrics, losses, D's signs) into a PNG");
  plot_cmd->add_option("run_dir", plot.run_dir,
                       "Run directory (stats.jsonl, metric-*.jsonl), or a "
                       "job id of the coordinator")
      ->required();
  plot_cmd->add_option("-o,--out", plot.out,
                       "PNG file to write (default RUN_DIR/curves.png, "
                       "JOB_ID.png)");
  plot_cmd->add_option("--width", plot.width, "Image width, pixels")
      ->capture_default_str();
  plot_cmd->add_option("--height", plot.height, "Image height, pixels")
      ->capture_default_str();

#if PGAN_HAVE_SERVICE_COMMANDS
  // Talking to a coordinator.
  pgan::tools::ServiceOptions service;
  std::string job_file, job_id;
  bool all_jobs = false;
  const auto add_service_flags = [&service](CLI::App* cmd) {
    cmd->add_option("--coordinator", service.address,
                    "host:port of pgan-coordinator (default $PGAN_COORDINATOR, then "
                    "127.0.0.1:7470)");
    cmd->add_option("--token", service.token, "Bearer token (default $PGAN_TOKEN)");
    cmd->add_option("--tls-ca", service.tls_ca,
                    "PEM CA of the coordinator's certificate: TLS (default "
                    "$PGAN_TLS_CA; none: plain text)");
    cmd->add_option("--tls-cert", service.tls_cert,
                    "PEM client certificate, for mutual TLS (default $PGAN_TLS_CERT)");
    cmd->add_option("--tls-key", service.tls_key,
                    "PEM key of --tls-cert (default $PGAN_TLS_KEY)");
  };
  CLI::App* submit_cmd = app.add_subcommand("submit", "Submit a training job to a coordinator");
  submit_cmd->add_option("job", job_file, "JobSpec as JSON, or YAML (.yaml, .yml)")
      ->required();
  add_service_flags(submit_cmd);
  CLI::App* jobs_cmd = app.add_subcommand("jobs", "List your jobs");
  jobs_cmd->add_flag("--all", all_jobs, "Also finished jobs");
  add_service_flags(jobs_cmd);
  std::string snapshot_which = "latest", download_path;
  CLI::App* download_cmd =
      app.add_subcommand("download", "Download a job's snapshot");
  download_cmd->add_option("id", job_id, "Job id")->required();
  download_cmd->add_option("--snapshot", snapshot_which,
                           "latest, best (lowest first metric), or the "
                           "snapshot's kimg (e.g. 000200)")
      ->capture_default_str();
  download_cmd->add_option("-o,--out", download_path, "File to write")->required();
  add_service_flags(download_cmd);
  std::string samples_path;
  CLI::App* samples_cmd = app.add_subcommand(
      "samples", "Download a job's latest sample grid (fakes*.png)");
  samples_cmd->add_option("id", job_id, "Job id")->required();
  samples_cmd->add_option("-o,--out", samples_path, "PNG file to write")
      ->required();
  add_service_flags(samples_cmd);
  CLI::App* workers_cmd =
      app.add_subcommand("workers", "List the coordinator's pool of workers");
  add_service_flags(workers_cmd);
  CLI::App* watch_cmd =
      app.add_subcommand("watch", "Follow a job's progress until it ends");
  CLI::App* status_cmd = app.add_subcommand("status", "Show a job");
  CLI::App* cancel_cmd = app.add_subcommand("cancel", "Cancel a job");
  CLI::App* snapshots_cmd = app.add_subcommand("snapshots", "List a job's snapshots");
  for (CLI::App* cmd : {status_cmd, cancel_cmd, snapshots_cmd, watch_cmd}) {
    cmd->add_option("id", job_id, "Job id")->required();
    add_service_flags(cmd);
  }
#endif

  CLI11_PARSE(app, argc, argv);
  // The environment is read here only, and handed to the commands.
  train.fallback_stats_cache = fid.fallback_stats_cache =
      pgan::trainer::StatisticsCache::InUserCache(std::getenv("XDG_CACHE_HOME"),
                                                  std::getenv("HOME"));
#if PGAN_HAVE_SERVICE_COMMANDS
  FillFromEnvironment(&service);
#endif

  absl::Status status;
  if (summary_cmd->parsed()) {
    summary_config.ResolveCfgDefaults();
    summary.model = summary_config.model;
    status = pgan::tools::RunSummary(summary, std::cout);
  } else if (generate_cmd->parsed()) {
    if (!seeds.empty()) {
      auto parsed = pgan::tools::ParseSeedList(seeds);
      if (!parsed.ok()) {
        std::cerr << "pgan generate: " << parsed.status().message() << "\n";
        return 2;
      }
      generate.seeds = *parsed;
    }
    status = pgan::tools::RunGenerate(generate, std::cout);
  } else if (video_cmd->parsed()) {
    absl::StatusOr<std::vector<int64_t>> parsed =
        pgan::tools::ParseSeedList(video_seeds);
    char end = 0;
    if (!parsed.ok()) {
      status = parsed.status();
    } else if (std::sscanf(video_grid.c_str(), "%dx%d%c", &video.grid_width,
                           &video.grid_height, &end) != 2) {
      status = absl::InvalidArgumentError(
          absl::StrCat("--grid: expected WxH, got \"", video_grid, "\""));
    } else if (video_shuffle_seed < -1 || video_shuffle_seed > 0xffffffffll) {
      status = absl::InvalidArgumentError(
          "--shuffle-seed: expected a seed from 0 to 2^32-1");
    } else {
      video.seeds = *parsed;
      if (video_shuffle_seed >= 0) {
        video.shuffle_seed = static_cast<uint32_t>(video_shuffle_seed);
      }
      status = pgan::tools::RunVideo(video, std::cout);
    }
  } else if (score_cmd->parsed()) {
    status = pgan::tools::RunScore(score, std::cout);
  } else if (train_cmd->parsed()) {
    std::signal(SIGINT, HandleStop);
    std::signal(SIGTERM, HandleStop);
    std::signal(SIGUSR1, HandleStop);  // What mpirun forwards to the ranks.
    absl::StatusOr<pgan::trainer::RunEnd> end =
        pgan::tools::RunTrainCommand(train, ThisLauncher(), &g_stop, std::cout);
    if (end.ok() && *end == pgan::trainer::RunEnd::kRestart) {
      return pgan::trainer::kExitRestart;
    }
    status = end.status();
  } else if (fid_cmd->parsed()) {
    status = pgan::tools::RunFid(fid, std::cout);
  } else if (export_cmd->parsed()) {
    status = pgan::tools::RunExport(export_options, std::cout);
  } else if (bench_cmd->parsed()) {
    status = pgan::tools::RunBenchCommand(bench, ThisLauncher(), std::cout);
  } else if (dataset_cmd->parsed()) {
    status = pgan::tools::RunDataset(dataset, std::cout);
  } else if (plot_cmd->parsed()) {
#if PGAN_HAVE_SERVICE_COMMANDS
    // Not a directory here: a job of the coordinator.
    if (!std::filesystem::is_directory(plot.run_dir) &&
        !std::filesystem::exists(plot.run_dir)) {
      status = pgan::tools::RunPlotJob(service, plot, std::cout);
    } else {
      status = pgan::tools::RunPlot(plot, std::cout);
    }
#else
    status = pgan::tools::RunPlot(plot, std::cout);
#endif
  }
#if PGAN_HAVE_SERVICE_COMMANDS
  else if (submit_cmd->parsed()) {
    status = pgan::tools::RunSubmit(service, job_file, std::cout);
  } else if (jobs_cmd->parsed()) {
    status = pgan::tools::RunJobs(service, all_jobs, std::cout);
  } else if (status_cmd->parsed()) {
    status = pgan::tools::RunStatus(service, job_id, std::cout);
  } else if (cancel_cmd->parsed()) {
    status = pgan::tools::RunCancel(service, job_id, std::cout);
  } else if (snapshots_cmd->parsed()) {
    status = pgan::tools::RunSnapshots(service, job_id, std::cout);
  } else if (watch_cmd->parsed()) {
    status = pgan::tools::RunWatch(service, job_id, std::cout);
  } else if (download_cmd->parsed()) {
    status = pgan::tools::RunDownload(service, job_id, snapshot_which,
                                      download_path, std::cout);
  } else if (samples_cmd->parsed()) {
    status = pgan::tools::RunSamples(service, job_id, samples_path, std::cout);
  } else if (workers_cmd->parsed()) {
    status = pgan::tools::RunWorkers(service, std::cout);
  }
#endif
  if (!status.ok()) {
    std::cerr << "pgan " << app.get_subcommands().front()->get_name() << ": "
              << status.message() << "\n";
    return ExitCode(status);
  }
  return 0;
}
