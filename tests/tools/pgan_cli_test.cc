// Runs the real `pgan` binary: the summary numbers users compare with the
// reference, generate/score on a network file against in-process results,
// and the errors users see for bad input.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <gtest/gtest.h>

#include "absl/strings/str_format.h"
#include "common/cubic_spline.h"
#include "common/image_io.h"
#include "common/npy.h"
#include "common/numpy_random.h"
#include "common/safetensors.h"
#include "common/video_writer.h"
#include "tests/common/subprocess.h"
#include "tests/common/test_dir.h"
#include "tests/trainer/random_images.h"
#include "trainer/network_file.h"
#include "trainer/sample_grid.h"
#include "trainer/state_dict.h"

namespace pgan {
namespace {

using ::pgan::testing::RunCommand;
using ::pgan::testing::TestDir;

std::string Pgan(const std::string& args) {
  return std::string(PGAN_BINARY) + " " + args;
}

nlohmann::json SummaryJson(const std::string& args) {
  const auto result = RunCommand(Pgan("summary --json " + args));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return nlohmann::json::parse(result.output);
}

TEST(PganCliTest, SummaryMatchesTheReferenceCounts) {
  const auto fastgan = SummaryJson("--cfg fastgan --res 256");
  EXPECT_EQ(fastgan["generator_params"], 105684175);
  EXPECT_EQ(fastgan["discriminator_trainable_params"], 10331328);
  EXPECT_EQ(fastgan["feature_network_params"], 2958848);
  EXPECT_EQ(fastgan["projector_params"], 376768);
  EXPECT_EQ(fastgan["logits_per_image"], 100);
  const auto lite = SummaryJson("--cfg fastgan_lite --res 128");
  EXPECT_EQ(lite["generator_params"], 79356035);
  EXPECT_EQ(lite["logits_per_image"], 64);
  const auto lite1 = SummaryJson("--cfg fastgan_lite --res 64 --feature-network tf_efficientnet_lite1");
  EXPECT_EQ(lite1["feature_network_params"], 3723520);
  // The reference's train.py --cfg stylegan2 (z_dim 64, w_dim 128, cbase
  // 32768, cmax 512, 2 mapping layers, separable discriminators), counted
  // with its own modules.
  const auto stylegan2 = SummaryJson("--cfg stylegan2 --res 256");
  EXPECT_EQ(stylegan2["generator_params"], 24615586);
  EXPECT_EQ(stylegan2["discriminator_trainable_params"], 696512);
  EXPECT_EQ(stylegan2["logits_per_image"], 100);
}

TEST(PganCliTest, SummaryTableWarnsAboutRandomFeatures) {
  const auto result = RunCommand(Pgan("summary --cfg fastgan_lite --res 32 --ngf 8"));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.output.find("RANDOMLY INITIALISED"), std::string::npos);
  EXPECT_NE(result.output.find("G.synthesis.feat_8"), std::string::npos);
}

class PganNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config::ModelConfig config;
    config.cfg = "fastgan";
    config.resolution = 32;
    config.ngf = 8;
    auto nets = trainer::BuildNetworks(config);
    ASSERT_TRUE(nets.ok()) << nets.status();
    nets_ = *nets;
    // Training-mode forwards settle spectral norm and BatchNorm statistics
    // so that eval-mode outputs are meaningful.
    torch::NoGradGuard no_grad;
    for (int i = 0; i < 3; ++i) nets_.G(torch::randn({4, 256}));
    for (int i = 0; i < 2; ++i) {
      nets_.D(torch::randn({4, 3, 32, 32}), torch::Tensor(), nullptr);
    }
    trainer::CopyState(*nets_.G, *nets_.G_ema);
    network_ = dir_.file("net.safetensors");
    ASSERT_TRUE(trainer::SaveNetworkFile(network_, nets_).ok());
  }

  TestDir dir_;
  trainer::Networks nets_;
  std::string network_;
};

TEST_F(PganNetworkTest, GenerateFromSeedsMatchesGEmaInProcess) {
  const std::string out = dir_.file("gen");
  const auto result = RunCommand(Pgan("generate --network " + network_ +
                                      " --seeds 3,5-6 --outdir " + out +
                                      " --device cpu"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::vector<float> z;
  for (uint32_t seed : {3u, 5u, 6u}) {
    const auto row = NumpyRandomState(seed).Randn(256);
    z.insert(z.end(), row.begin(), row.end());
  }
  torch::NoGradGuard no_grad;
  nets_.G_ema->eval();
  const torch::Tensor images =
      (nets_.G_ema(torch::from_blob(z.data(), {3, 256}).clone()).permute({0, 2, 3, 1}) *
           127.5 + 128)
          .clamp(0, 255)
          .to(torch::kUInt8)
          .contiguous();
  const char* names[] = {"seed0003.png", "seed0005.png", "seed0006.png"};
  for (int i = 0; i < 3; ++i) {
    auto image = ReadImage(out + "/" + names[i]);
    ASSERT_TRUE(image.ok()) << image.status();
    ASSERT_EQ(image->pixels.size(), 32u * 32 * 3);
    EXPECT_EQ(std::memcmp(image->pixels.data(), images[i].data_ptr<uint8_t>(),
                          image->pixels.size()),
              0)
        << names[i];
  }
}

// A small StyleGAN2 network file: generate takes the reference's default
// noise (const) and truncation towards w_avg; video interpolates the mapped
// (truncated) w as gen_video.py does.
class PganStylegan2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    config::ModelConfig config;
    config.cfg = "stylegan2";
    config.resolution = 32;
    config.z_dim = 64;
    config.w_dim = 32;
    config.cbase = 512;
    config.cmax = 32;
    auto nets = trainer::BuildNetworks(config);
    ASSERT_TRUE(nets.ok()) << nets.status();
    nets_ = *nets;
    torch::NoGradGuard no_grad;
    nets_.G_ema->mapping->w_avg.normal_();
    for (torch::Tensor& p : nets_.G_ema->parameters()) {
      if (p.dim() == 0) p.fill_(0.3);  // noise_strength: make noise visible.
    }
    network_ = dir_.file("sg2.safetensors");
    ASSERT_TRUE(trainer::SaveNetworkFile(network_, nets_).ok());
  }

  torch::Tensor Latents(const std::vector<uint32_t>& seeds) {
    std::vector<float> z;
    for (uint32_t seed : seeds) {
      const auto row = NumpyRandomState(seed).Randn(64);
      z.insert(z.end(), row.begin(), row.end());
    }
    return torch::from_blob(z.data(), {static_cast<int64_t>(seeds.size()), 64})
        .clone();
  }

  TestDir dir_;
  trainer::Networks nets_;
  std::string network_;
};

TEST_F(PganStylegan2Test, GenerateTruncatesWithConstNoiseByDefault) {
  const std::string out = dir_.file("gen");
  const auto result = RunCommand(Pgan("generate --network " + network_ +
                                      " --seeds 1,2 --trunc 0.5 --outdir " +
                                      out + " --device cpu"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  torch::NoGradGuard no_grad;
  trainer::Generator g = nets_.G_ema;
  g->eval();
  g->set_noise_mode(trainer::NoiseMode::kConst);
  // One image per forward pass, as generate runs StyleGAN2: its grouped
  // convolutions round differently in a batch of two on some CPUs.
  const auto images = [&](double psi) {
    g->set_truncation(psi);
    return torch::cat({trainer::ToUint8Truncated(g(Latents({1}))),
                       trainer::ToUint8Truncated(g(Latents({2})))});
  };
  const torch::Tensor truncated = images(0.5);
  const torch::Tensor plain = images(1);
  const char* names[] = {"seed0001.png", "seed0002.png"};
  for (int i = 0; i < 2; ++i) {
    auto image = ReadImage(out + "/" + names[i]);
    ASSERT_TRUE(image.ok()) << image.status();
    const torch::Tensor hwc = truncated[i].permute({1, 2, 0}).contiguous();
    ASSERT_EQ(image->pixels.size(), static_cast<size_t>(hwc.numel()));
    EXPECT_EQ(std::memcmp(image->pixels.data(), hwc.data_ptr<uint8_t>(),
                          image->pixels.size()),
              0)
        << names[i];
  }
  EXPECT_FALSE(torch::equal(truncated, plain)) << "--trunc changed nothing";
}

TEST_F(PganStylegan2Test, VideoKeyframesAreTheTruncatedWs) {
  const std::string frames = dir_.file("frames");
  const auto result = RunCommand(Pgan(
      "video --network " + network_ +
      " --seeds 3,4 --w-frames 2 --trunc 0.7 --device cpu --frames " + frames));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  torch::NoGradGuard no_grad;
  trainer::Generator g = nets_.G_ema;
  g->eval();
  g->set_noise_mode(trainer::NoiseMode::kConst);
  g->set_truncation(0.7);
  const torch::Tensor ws = g->Map(Latents({3, 4}));
  for (int keyframe = 0; keyframe < 2; ++keyframe) {
    const Image expected = trainer::TileUint8(
        trainer::ToUint8Truncated(g->Synthesize(ws.narrow(0, keyframe, 1))),
        trainer::GridSize{1, 1});
    auto image =
        ReadImage(frames + absl::StrFormat("/frame%06d.png", keyframe * 2));
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_TRUE(image->pixels == expected.pixels) << keyframe;
  }
}

TEST_F(PganNetworkTest, TruncationAndConstNoiseNeedStylegan2) {
  auto r =
      RunCommand(Pgan("generate --network " + network_ +
                      " --seeds 0 --trunc 0.7 --outdir " + dir_.file("o")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--trunc: this network is FastGAN"),
            std::string::npos)
      << r.output;
  r = RunCommand(Pgan("video --network " + network_ +
                      " --seeds 0 --noise-mode const --frames " +
                      dir_.file("f")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--noise-mode const: this network is FastGAN"),
            std::string::npos)
      << r.output;
}

TEST_F(PganNetworkTest, ScoreMatchesTheDiscriminatorInProcess) {
  const std::string images = dir_.file("imgs");
  std::filesystem::create_directories(images);
  torch::manual_seed(9);
  const torch::Tensor pixels = torch::randint(0, 256, {2, 32, 32, 3}, torch::kUInt8);
  for (int i = 0; i < 2; ++i) {
    Image image{32, 32, 3, {}};
    image.pixels.assign(pixels[i].data_ptr<uint8_t>(),
                        pixels[i].data_ptr<uint8_t>() + 32 * 32 * 3);
    ASSERT_TRUE(WritePng(images + "/" + std::to_string(i) + ".png", image).ok());
  }
  const auto result = RunCommand(Pgan("score --json --network " + network_ +
                                      " --images " + images + " --device cpu"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto json = nlohmann::json::parse(result.output);
  ASSERT_EQ(json["files"], nlohmann::json({"0.png", "1.png"}));
  torch::NoGradGuard no_grad;
  nets_.D->eval();
  const torch::Tensor x = pixels.permute({0, 3, 1, 2}).to(torch::kFloat) / 127.5 - 1;
  const torch::Tensor want = nets_.D(x, torch::Tensor(), nullptr).mean(1);
  for (int i = 0; i < 2; ++i) {
    EXPECT_NEAR(json["scores"][i].get<double>(), want[i].item<double>(), 1e-5);
  }
}

TEST_F(PganNetworkTest, BadInputsGetClearErrors) {
  auto r = RunCommand(Pgan("generate --network " + dir_.file("nope.safetensors") +
                           " --seeds 0 --outdir " + dir_.file("o")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("nope.safetensors"), std::string::npos) << r.output;

  ASSERT_TRUE(WriteNpy(dir_.file("z.npy"), {2, 100}, std::vector<float>(200)).ok());
  r = RunCommand(Pgan("generate --network " + network_ + " --latents " +
                      dir_.file("z.npy") + " --outdir " + dir_.file("o")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("expected latents of shape [N, 256]"), std::string::npos)
      << r.output;

  r = RunCommand(Pgan("generate --network " + network_ + " --seeds 0 --class 1 --outdir " +
                      dir_.file("o")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unconditional"), std::string::npos) << r.output;

  const std::string images = dir_.file("big");
  std::filesystem::create_directories(images);
  ASSERT_TRUE(WritePng(images + "/wide.png", Image{64, 32, 3, std::vector<uint8_t>(64 * 32 * 3)}).ok());
  r = RunCommand(Pgan("score --network " + network_ + " --images " + images));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("wide.png: image is 64x32"), std::string::npos) << r.output;

  r = RunCommand(Pgan("summary --cfg fastgan --res 100"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("resolution"), std::string::npos) << r.output;
}

// G_ema's frame of `cells` latents, tiled as pgan video tiles a frame.
Image RenderFrame(trainer::Networks& nets, const std::vector<float>& z,
                  trainer::GridSize grid) {
  torch::NoGradGuard no_grad;
  nets.G_ema->eval();
  nets.G_ema->set_noise_mode(trainer::NoiseMode::kNone);
  const int64_t n = static_cast<int64_t>(z.size() / 256);
  const torch::Tensor images = nets.G_ema(
      torch::from_blob(const_cast<float*>(z.data()), {n, 256}).clone());
  return trainer::TileUint8(trainer::ToUint8Truncated(images), grid);
}

void ExpectSameImage(const std::string& path, const Image& expected) {
  auto image = ReadImage(path);
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_EQ(image->width, expected.width) << path;
  ASSERT_EQ(image->height, expected.height) << path;
  EXPECT_TRUE(image->pixels == expected.pixels) << path;
}

// gen_video.py's path: every cell's keyframes are the seeds tiled and
// shuffled by NumPy's RandomState(--shuffle-seed), reached at multiples of
// --w-frames, with scipy's cubic spline over the keyframes wrapped twice in
// between (the spline itself is checked against scipy in common_test).
TEST_F(PganNetworkTest, VideoFramesFollowTheReferencesLatentPath) {
  const std::string frames = dir_.file("frames");
  const auto result = RunCommand(Pgan(
      "video --network " + network_ + " --seeds 0-5 --grid 3x2 "
      "--num-keyframes 2 --shuffle-seed 7 --w-frames 4 --noise-mode none "
      "--device cpu --frames " + frames));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("wrote 8 frames"), std::string::npos)
      << result.output;
  EXPECT_TRUE(std::filesystem::exists(frames + "/frame000007.png"));
  EXPECT_FALSE(std::filesystem::exists(frames + "/frame000008.png"));
  // numpy: a = np.tile(np.arange(6), 2); np.random.RandomState(7).shuffle(a)
  const std::vector<uint32_t> all = {1, 4, 2, 5, 0, 1, 5, 2, 3, 0, 3, 4};
  const trainer::GridSize grid{3, 2};
  for (int keyframe = 0; keyframe < 2; ++keyframe) {
    std::vector<float> z;
    for (int cell = 0; cell < 6; ++cell) {
      const auto row = NumpyRandomState(all[cell * 2 + keyframe]).Randn(256);
      z.insert(z.end(), row.begin(), row.end());
    }
    ExpectSameImage(frames + absl::StrFormat("/frame%06d.png", keyframe * 4),
                    RenderFrame(nets_, z, grid));
  }
  // Frame 2, half way from keyframe 0 to 1, on each cell's spline.
  std::vector<float> z;
  for (int cell = 0; cell < 6; ++cell) {
    std::vector<double> x, y;
    for (int j = 0; j < 10; ++j) {
      x.push_back(j - 4);
      const auto row = NumpyRandomState(all[cell * 2 + j % 2]).Randn(256);
      y.insert(y.end(), row.begin(), row.end());
    }
    auto path = CubicSpline::Fit(x, y, 256);
    ASSERT_TRUE(path.ok()) << path.status();
    for (double v : (*path)(0.5)) z.push_back(static_cast<float>(v));
  }
  const Image middle = RenderFrame(nets_, z, grid);
  ExpectSameImage(frames + "/frame000002.png", middle);
  auto first = ReadImage(frames + "/frame000000.png");
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->pixels == middle.pixels) << "the video does not move";
}

TEST_F(PganNetworkTest, VideoWritesAnMp4WhereFfmpegIsBuiltIn) {
  if (!Mp4Writer::Available()) GTEST_SKIP() << "built without FFmpeg";
  const std::string mp4 = dir_.file("lerp.mp4");
  const auto result = RunCommand(Pgan("video --network " + network_ +
                                      " --seeds 0-3 --grid 2x1 --w-frames 3 "
                                      "--device cpu --output " + mp4));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::ifstream in(mp4, std::ios::binary);
  std::string head(12, '\0');
  in.read(head.data(), head.size());
  EXPECT_EQ(head.substr(4, 4), "ftyp") << "not an MP4";
  EXPECT_FALSE(std::filesystem::exists(mp4 + ".part"));
}

TEST_F(PganNetworkTest, VideoBadInputsGetClearErrors) {
  const std::string base = "video --device cpu --network " + network_;
  auto r = RunCommand(Pgan(base + " --seeds 0-4 --grid 2x1 --frames " +
                           dir_.file("f")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("5 seeds do not divide among the grid's 2 cells"),
            std::string::npos)
      << r.output;
  r = RunCommand(Pgan(base + " --seeds 0 --output " + dir_.file("v.avi")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("expected a .mp4 file"), std::string::npos)
      << r.output;
  r = RunCommand(Pgan(base + " --seeds 0"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--frames"), std::string::npos) << r.output;
  r = RunCommand(Pgan(base + " --seeds 0 --class 2 --frames " + dir_.file("f")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unconditional"), std::string::npos) << r.output;
  r = RunCommand(Pgan(base + " --seeds 0 --grid 3 --frames " + dir_.file("f")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--grid: expected WxH"), std::string::npos)
      << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir_.file("f")));
}

// The requeue protocol from outside: with --restart-every the process
// exits with status 75 after a snapshot, and the same command run again
// continues the same run directory.
TEST(PganTrainTest, RestartEveryExitsWith75AndTheSameCommandContinues) {
  TestDir dir;
  const std::string data = dir.file("data");
  ASSERT_TRUE(testing::WriteRandomImageFolder(data, 6, 32, /*seed=*/11).ok());
  // Far more iterations than a second holds, a tick each: it restarts.
  const std::string command = Pgan(
      "train --data " + data + " --outdir " + dir.file("runs") +
      " --cfg fastgan_lite --ngf 8 --batch 2 --tick 0.002 --snap 1000 "
      "--kimg 10 --grid 2x1 --device cpu --workers 1 --restart-every 1");
  auto r = RunCommand(command);
  ASSERT_EQ(r.exit_code, 75) << r.output;
  EXPECT_NE(r.output.find("Restart job"), std::string::npos) << r.output;
  const std::string run =
      dir.file("runs") + "/00000-fastgan_lite-data-gpus1-batch2";
  ASSERT_TRUE(std::filesystem::is_directory(run)) << r.output;
  EXPECT_TRUE(std::filesystem::exists(run + "/snapshot-000000.safetensors"));

  r = RunCommand(command);
  ASSERT_EQ(r.exit_code, 75) << r.output;
  EXPECT_NE(r.output.find("Resuming at kimg"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Run directory: " + run), std::string::npos)
      << r.output;
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.file("runs")),
                          std::filesystem::directory_iterator()),
            1);
}

// Training K iterations, exiting, and resuming for K more in a new process
// gives the parameters and optimiser state of 2K iterations in one go.
// `pgan metrics` on two image sets with stand-ins of NVIDIA's detectors
// against the reference's own metric code (tests/trainer/testdata/metrics,
// written by tools/make_metric_golden.py; the tolerances are those of
// tests/trainer/reference_metrics_test.cc).
std::string MetricData(const std::string& name) {
  return std::string(PGAN_TESTDATA_DIR) + "/metrics/" + name;
}

TEST(PganMetricsTest, TheReferenceNamesGiveTheReferenceValues) {
  TestDir dir;
  std::ifstream in(MetricData("expected.json"));
  const nlohmann::json expected = nlohmann::json::parse(in);
  const std::string sets = " --real " + MetricData("real.zip") + " --fake " +
                           MetricData("fake.zip") + " --metrics-cache " +
                           dir.file("cache") + " --device cpu";
  const auto result = RunCommand(Pgan(
      "metrics --json --metrics fid200_full,kid200_full,pr2003_full"
      " --inception " + MetricData("inception.pt") + " --vgg16 " +
      MetricData("vgg16.pt") + sets));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::vector<nlohmann::json> lines;
  std::istringstream out(result.output);
  for (std::string line; std::getline(out, line);) {
    // The records on stdout; progress goes to stderr (merged here).
    if (!line.empty() && line[0] == '{') {
      lines.push_back(nlohmann::json::parse(line));
    }
  }
  ASSERT_EQ(lines.size(), 3u) << result.output;
  // calc_metrics.py's records: one per metric, PR's with both results.
  EXPECT_EQ(lines[0]["metric"], "fid200_full");
  EXPECT_EQ(lines[1]["metric"], "kid200_full");
  EXPECT_EQ(lines[2]["metric"], "pr2003_full");
  const auto near = [&](const nlohmann::json& line, const std::string& key,
                        double rtol) {
    const double got = line["results"][key].get<double>();
    const double want = expected[key].get<double>();
    EXPECT_LE(std::abs(got - want), rtol * std::abs(want))
        << key << " " << got << " vs " << want;
  };
  near(lines[0], "fid200_full", 1e-6);
  near(lines[1], "kid200_full", 1e-5);
  near(lines[2], "pr2003_full_precision", 0);
  near(lines[2], "pr2003_full_recall", 0);
  EXPECT_EQ(lines[0]["num_reals"], 256);
  EXPECT_EQ(lines[0]["num_fakes"], 200);

  // `pgan fid` is the same command; on two sets its default is FID of all
  // the fakes.
  const auto fid = RunCommand(
      Pgan("fid --inception " + MetricData("inception.pt") + sets));
  ASSERT_EQ(fid.exit_code, 0) << fid.output;
  EXPECT_NE(fid.output.find("fid200_full 0.74740"), std::string::npos)
      << fid.output;

  // A metric without its detector names the flag and the file.
  const auto no_vgg = RunCommand(Pgan("metrics --metrics pr2003_full" + sets));
  EXPECT_NE(no_vgg.exit_code, 0);
  EXPECT_NE(no_vgg.output.find("--metrics: pr2003_full needs --vgg16 FILE "
                               "(NVIDIA's TorchScript VGG16, vgg16.pt)"),
            std::string::npos)
      << no_vgg.output;
  const auto port = RunCommand(
      Pgan("metrics --metrics fid200_full_pytorchfid --inception " +
           MetricData("inception.pt") + sets));
  EXPECT_NE(port.exit_code, 0);
  EXPECT_NE(port.output.find("needs --inception-pytorchfid FILE"),
            std::string::npos)
      << port.output;
}

// A conditional network is evaluated with labels drawn from its dataset's,
// as the reference's calc_metrics does.
TEST(PganMetricsTest, AConditionalNetworkTakesItsDatasetsLabels) {
  TestDir dir;
  config::ModelConfig config;
  config.cfg = "fastgan";
  config.resolution = 32;
  config.ngf = 8;
  config.c_dim = 3;
  auto nets = trainer::BuildNetworks(config);
  ASSERT_TRUE(nets.ok()) << nets.status();
  const std::string network = dir.file("cond.safetensors");
  ASSERT_TRUE(trainer::SaveNetworkFile(network, *nets).ok());
  const std::string data = dir.file("data");
  ASSERT_TRUE(testing::WriteRandomImageFolder(data, 8, 32, 5).ok());
  std::string labels = R"({"labels": [)";
  for (int i = 0; i < 8; ++i) {
    labels += (i ? ", " : "") + std::string("[\"img") + std::to_string(i) +
              ".png\", " + std::to_string(i % 3) + "]";
  }
  std::ofstream(data + "/dataset.json") << labels << "]}";
  const std::string args = " --metrics fid16_full --inception " +
                           MetricData("inception.pt") + " --metrics-cache " +
                           dir.file("cache") + " --device cpu --network " +
                           network;
  const auto ok = RunCommand(Pgan("metrics --data " + data + args));
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("fid16_full "), std::string::npos) << ok.output;

  const std::string unlabelled = dir.file("plain");
  ASSERT_TRUE(testing::WriteRandomImageFolder(unlabelled, 8, 32, 5).ok());
  const auto refused = RunCommand(Pgan("metrics --data " + unlabelled + args));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("no labels (dataset.json), but " + network +
                                " is conditioned on 3 classes"),
            std::string::npos)
      << refused.output;
}

TEST(PganTrainTest, ResumeInANewProcessIsExact) {
  TestDir dir;
  const std::string data = dir.file("data");
  ASSERT_TRUE(testing::WriteRandomImageFolder(data, 6, 32, /*seed=*/11).ok());
  const std::string common =
      " --data " + data +
      " --cfg fastgan --res 32 --ngf 8 --batch 2 --batch-gpu 1 --tick 0.002"
      " --snap 1000 --grid 2x1 --device cpu --workers 1";
  auto r = RunCommand(Pgan("train" + common + " --outdir " + dir.file("a") +
                           " --kimg 0.008"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunCommand(Pgan("train" + common + " --outdir " + dir.file("b") + " --kimg 0.004"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunCommand(Pgan("train --outdir " + dir.file("b") +
                      " --resume latest --kimg 0.008 --device cpu"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("kimg     0.01"), std::string::npos) << r.output;

  const std::string name = "/00000-fastgan-data-gpus1-batch2/snapshot-000000.safetensors";
  auto a = SafetensorsFile::Open(dir.file("a") + name);
  auto b = SafetensorsFile::Open(dir.file("b") + name);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  ASSERT_EQ(a->tensors().size(), b->tensors().size());
  for (const TensorEntry& ta : a->tensors()) {
    const TensorEntry* tb = b->Find(ta.name);
    ASSERT_NE(tb, nullptr) << ta.name;
    ASSERT_EQ(ta.nbytes, tb->nbytes);
    EXPECT_EQ(std::memcmp(ta.data, tb->data, ta.nbytes), 0) << ta.name;
  }
  EXPECT_NE(a->metadata().at("pgan_progress").find("\"batch_idx\":4"), std::string::npos);
  EXPECT_NE(b->metadata().at("pgan_progress").find("\"batch_idx\":4"), std::string::npos);
}

}  // namespace
}  // namespace pgan
