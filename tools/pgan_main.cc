// The `pgan` command line: parses flags and hands plain option structs to
// the command functions in tools/.
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"
#include "tools/model_commands.h"

namespace {

void AddModelFlags(CLI::App* cmd, pgan::trainer::ModelConfig* model) {
  cmd->add_option("--cfg", model->cfg, "fastgan or fastgan_lite")
      ->capture_default_str();
  cmd->add_option("--res", model->resolution,
                  "Image resolution: 32, 64, 128, 256, 512 or 1024")
      ->capture_default_str();
  cmd->add_option("--ngf", model->ngf, "Generator width")->capture_default_str();
  cmd->add_option("--z-dim", model->z_dim, "Latent size")->capture_default_str();
  cmd->add_option("--cond", model->c_dim,
                  "Number of classes for a conditional model (0: unconditional)")
      ->capture_default_str();
  cmd->add_option("--feature-network", model->feature_network,
                  "tf_efficientnet_lite0 or tf_efficientnet_lite1")
      ->capture_default_str();
  cmd->add_option("--cout", model->cout, "Projector channels")
      ->capture_default_str();
  cmd->add_option("--proj-type", model->proj_type,
                  "0: raw features, 1: CCM, 2: CCM + CSM")
      ->capture_default_str();
  cmd->add_option("--num-discs", model->num_discs, "Discriminators (1-4)")
      ->capture_default_str();
}

// 2 for input the user can fix (a file, a flag), 1 for everything else.
int ExitCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kOutOfRange:
      return 2;
    default:
      return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "pgan: train and use Projected GANs (Sauer et al., NeurIPS 2021).\n"
      "Run 'pgan COMMAND --help' for the options of a command."};
  app.require_subcommand(1);

  pgan::tools::SummaryOptions summary;
  CLI::App* summary_cmd = app.add_subcommand(
      "summary", "Print the parameter table of a model configuration");
  AddModelFlags(summary_cmd, &summary.model);
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
  generate_cmd->add_option("--class", generate.class_index,
                           "Class index for conditional networks");
  generate_cmd->add_option("--batch", generate.batch, "Images per forward pass")
      ->capture_default_str();
  generate_cmd->add_option("--noise-mode", generate.noise_mode,
                           "random (as the reference) or none")
      ->capture_default_str();
  generate_cmd->add_option("--noise-seed", generate.noise_seed,
                           "Seed of the injected noise")
      ->capture_default_str();
  generate_cmd->add_option("--device", generate.device, "auto, cpu, cuda[:N]")
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

  CLI11_PARSE(app, argc, argv);

  absl::Status status;
  if (summary_cmd->parsed()) {
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
  } else if (score_cmd->parsed()) {
    status = pgan::tools::RunScore(score, std::cout);
  }
  if (!status.ok()) {
    std::cerr << "pgan " << app.get_subcommands().front()->get_name() << ": "
              << status.message() << "\n";
    return ExitCode(status);
  }
  return 0;
}
