// The reference's metrics against the reference's own metric code:
// testdata/metrics/ (written by tools/make_metric_golden.py, which documents
// how) holds two image sets, TorchScript stand-ins of NVIDIA's Inception and
// VGG16 detectors with their interface, and what projected_gan's
// metric_main.calc_metric gave for fid50k_full, kid50k_full and pr50k3_full
// on them (with 200 fakes: fid200_full, kid200_full, pr2003_full), plus the
// stand-in Inception's features of both sets and FeatureStats' mean and
// covariance of the reals.
//
// Agreement stated in trainer/fid.h and measured here: the same features
// give the reference's FID to 1e-12 relative, KID to 1e-6 (the reference
// sums in float32), precision and recall exactly; the detector, run by
// LibTorch here and PyTorch there, gives the same features to 1e-5.

#include <gtest/gtest.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/metric_name.h"
#include "tests/common/test_dir.h"
#include "trainer/dataset.h"
#include "trainer/fid.h"
#include "trainer/metrics.h"
#include "trainer/process_group.h"
#include "trainer/torchscript_detector.h"

#ifndef PGAN_TESTDATA_DIR
#error "PGAN_TESTDATA_DIR must name tests/trainer/testdata"
#endif

namespace pgan::trainer {
namespace {

using nlohmann::json;
using ::pgan::testing::TestDir;

std::string Data(const std::string& name) {
  return std::string(PGAN_TESTDATA_DIR) + "/metrics/" + name;
}

const json& Expected() {
  static const json* expected = [] {
    std::ifstream in(Data("expected.json"));
    return new json(json::parse(in));
  }();
  return *expected;
}

torch::Tensor Matrix(const std::string& key, int64_t cols,
                     torch::ScalarType type) {
  const std::vector<double> values = Expected()[key].get<std::vector<double>>();
  return torch::tensor(values, torch::kFloat64).view({-1, cols}).to(type);
}

int64_t Dim() { return Expected()["feature_dim"].get<int64_t>(); }

double RelativeError(double got, double want) {
  return std::abs(got - want) / std::abs(want);
}

std::shared_ptr<const ImageDataset> Open(const std::string& name, bool xflip) {
  ImageDatasetOptions options;
  options.xflip = xflip;
  options.use_labels = false;
  auto dataset = ImageDataset::Open(Data(name), options);
  EXPECT_TRUE(dataset.ok()) << dataset.status();
  return std::shared_ptr<const ImageDataset>(std::move(*dataset));
}

torch::Tensor Images(const ImageDataset& set) {
  const int64_t n = set.num_images(), r = set.resolution();
  torch::Tensor images = torch::empty({n, set.channels(), r, r}, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_TRUE(
        set.GetInto(i, images.data_ptr<uint8_t>() + i * set.item_bytes()).ok());
  }
  return images;
}

TEST(ReferenceMetricsTest, StatisticsAreFeatureStatsDividedByN) {
  const torch::Tensor real = Matrix("real_features", Dim(), torch::kFloat32);
  auto stats = ComputeStatistics(real);
  ASSERT_TRUE(stats.ok()) << stats.status();
  const torch::Tensor mean = torch::tensor(
      Expected()["real_mean"].get<std::vector<double>>(), torch::kFloat64);
  const torch::Tensor cov = Matrix("real_cov", Dim(), torch::kFloat64);
  EXPECT_LE((stats->mean - mean).abs().max().item<double>(), 1e-13);
  EXPECT_LE((stats->covariance - cov).abs().max().item<double>(),
            1e-13 * cov.abs().max().item<double>());
  EXPECT_EQ(stats->count, 256);
  // Dividing by N - 1 (what pgan did before) is far outside that.
  EXPECT_GT((stats->covariance * 256 / 255 - cov).abs().max().item<double>(),
            1e-4 * cov.abs().max().item<double>());
}

TEST(ReferenceMetricsTest, TheReferenceFeaturesGiveTheReferenceValues) {
  const torch::Tensor real = Matrix("real_features", Dim(), torch::kFloat32);
  const torch::Tensor fake = Matrix("fake_features", Dim(), torch::kFloat32);
  auto a = ComputeStatistics(real);
  auto b = ComputeStatistics(fake);
  ASSERT_TRUE(a.ok() && b.ok());
  auto fid = FrechetDistance(*a, *b);
  ASSERT_TRUE(fid.ok()) << fid.status();
  EXPECT_LE(RelativeError(*fid, Expected()["fid200_full"]), 1e-12)
      << *fid << " vs " << Expected()["fid200_full"];

  KidOptions kid_options;
  kid_options.seed = Expected()["kid_seed"].get<uint32_t>();
  auto kid = KernelInceptionDistance(real, fake, kid_options);
  ASSERT_TRUE(kid.ok()) << kid.status();
  EXPECT_LE(RelativeError(*kid, Expected()["kid200_full"]), 1e-6)
      << *kid << " vs " << Expected()["kid200_full"];
  // Other subsets move KID by far more: the subsets are the reference's.
  kid_options.seed = 1;
  auto other = KernelInceptionDistance(real, fake, kid_options);
  ASSERT_TRUE(other.ok());
  EXPECT_GT(RelativeError(*other, Expected()["kid200_full"]), 1e-4);
}

TEST(ReferenceMetricsTest, PrecisionAndRecallAreTheReferenceShares) {
  // The reference's PR runs on the VGG16 stand-in's features; the Inception
  // features in the file exercise the same arithmetic, so this checks the
  // estimator against a direct float64 computation on the same float16
  // values, and the VGG16 side end to end below.
  const torch::Tensor real = Matrix("real_features", Dim(), torch::kFloat32);
  const torch::Tensor fake = Matrix("fake_features", Dim(), torch::kFloat32);
  auto pr = ComputePrecisionRecall(real, fake, 3, /*block=*/37);
  ASSERT_TRUE(pr.ok()) << pr.status();
  const auto direct = [](const torch::Tensor& manifold,
                         const torch::Tensor& probes) {
    const torch::Tensor m = manifold.to(torch::kHalf).to(torch::kFloat64);
    const torch::Tensor p = probes.to(torch::kHalf).to(torch::kFloat64);
    const torch::Tensor radius = std::get<0>(torch::cdist(m, m).kthvalue(4, 1));
    return (torch::cdist(p, m) <= radius.unsqueeze(0))
        .any(1)
        .to(torch::kFloat64)
        .mean()
        .item<double>();
  };
  // Distances rounded to float16 can only move a probe on a boundary.
  EXPECT_NEAR(pr->precision, direct(real, fake), 2.0 / fake.size(0));
  EXPECT_NEAR(pr->recall, direct(fake, real), 2.0 / real.size(0));
  // Blocks change nothing.
  auto whole = ComputePrecisionRecall(real, fake, 3, 10000);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->precision, pr->precision);
  EXPECT_EQ(whole->recall, pr->recall);
}

TEST(ReferenceMetricsTest, TheTorchScriptDetectorGivesTheReferenceFeatures) {
  auto detector = LoadTorchScriptDetector(Data("inception.pt"),
                                          "nvidia_inception", torch::kCPU);
  ASSERT_TRUE(detector.ok()) << detector.status();
  EXPECT_EQ((*detector)->dim(), Dim());
  EXPECT_EQ((*detector)->weights_digest().size(), 64u);
  auto reals = Open("real.zip", false);
  auto features = (*detector)->Extract(Images(*reals));
  ASSERT_TRUE(features.ok()) << features.status();
  const torch::Tensor want = Matrix("real_features", Dim(), torch::kFloat32);
  EXPECT_LE((*features - want).abs().max().item<float>(), 1e-5);
  // Grayscale is repeated to RGB, as the reference does.
  const torch::Tensor gray = Images(*reals).narrow(1, 0, 1);
  auto from_gray = (*detector)->Extract(gray);
  auto from_rgb = (*detector)->Extract(gray.repeat({1, 3, 1, 1}));
  ASSERT_TRUE(from_gray.ok() && from_rgb.ok());
  EXPECT_TRUE(torch::equal(*from_gray, *from_rgb));
}

TEST(ReferenceMetricsTest, ABadDetectorFileIsNamed) {
  TestDir dir;
  auto missing = LoadTorchScriptDetector(dir.file("none.pt"),
                                         "nvidia_inception", torch::kCPU);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("none.pt"), std::string::npos);

  // A zip that is no TorchScript archive (a dataset).
  auto zip = LoadTorchScriptDetector(Data("real.zip"), "nvidia_inception",
                                     torch::kCPU);
  EXPECT_EQ(zip.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(zip.status().message().find("real.zip: not a TorchScript module"),
            std::string::npos)
      << zip.status();

  // A TorchScript module without the detector's interface.
  torch::jit::Module identity("Identity");
  identity.define(R"(
    def forward(self, x):
        return x
  )");
  const std::string wrong = dir.file("identity.pt");
  identity.save(wrong);
  auto bad = LoadTorchScriptDetector(wrong, "nvidia_inception", torch::kCPU);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("identity.pt: not a metric detector"),
            std::string::npos)
      << bad.status();

  // One that returns images, not [N, D] features.
  torch::jit::Module images("Images");
  images.define(R"(
    def forward(self, img, return_features: bool = False):
        return img.float()
  )");
  const std::string not_features = dir.file("images.pt");
  images.save(not_features);
  auto shape =
      LoadTorchScriptDetector(not_features, "nvidia_inception", torch::kCPU);
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(shape.status().message().find("expected [2, D] float features"),
            std::string::npos)
      << shape.status();
}

// The evaluator, as pgan metrics and the training metrics run it: every real
// once and no flip even when the dataset is read with --mirror, the fakes in
// order, the reference's values.
TEST(ReferenceMetricsTest, TheEvaluatorGivesTheReferenceValuesWithoutFlips) {
  TestDir dir;
  config::AvailableDetectors available;
  available.inception = true;
  available.vgg16 = true;
  auto specs =
      config::ResolveMetrics({"fid200_full", "kid200_full", "pr2003_full"},
                             available, "tf_efficientnet_lite0");
  ASSERT_TRUE(specs.ok()) << specs.status();
  DetectorFiles files;
  files.inception = Data("inception.pt");
  files.vgg16 = Data("vgg16.pt");
  auto extractors = LoadDetectors(*specs, files, nullptr,
                                  "tf_efficientnet_lite0", torch::kCPU);
  ASSERT_TRUE(extractors.ok()) << extractors.status();
  LocalProcessGroup group;
  MetricsOptions options;
  options.batch = 64;
  options.cache_dir = dir.file("cache");
  auto reals = Open("real.zip", /*xflip=*/true);
  ASSERT_EQ(reals->size(), 512);
  auto evaluator = MetricsEvaluator::Create(*specs, std::move(*extractors),
                                            reals, &group, options);
  ASSERT_TRUE(evaluator.ok()) << evaluator.status();
  ASSERT_TRUE((*evaluator)->PrepareReals().ok());
  // 256 reals for each of the two detectors, never their flips.
  EXPECT_EQ((*evaluator)->dataset_images_read(), 512);
  auto fakes = Open("fake.zip", false);
  auto partials = (*evaluator)->ExtractFakes(*fakes);
  ASSERT_TRUE(partials.ok()) << partials.status();
  auto results = (*evaluator)->Reduce(*partials);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 4u);
  const double tolerance[] = {1e-6, 1e-5, 0, 0};
  for (size_t i = 0; i < results->size(); ++i) {
    const MetricResult& r = (*results)[i];
    const double want = Expected()[r.metric].get<double>();
    EXPECT_LE(RelativeError(r.value, want), tolerance[i])
        << r.metric << " " << r.value << " vs " << want;
    EXPECT_EQ(r.num_reals, 256) << r.metric;
    EXPECT_EQ(r.num_fakes, 200) << r.metric;
  }
  EXPECT_EQ((*results)[2].metric, "pr2003_full_precision");
  EXPECT_EQ((*results)[2].spec, "pr2003_full");
  EXPECT_EQ((*results)[3].metric, "pr2003_full_recall");

  // Fewer fakes than a metric names is refused, naming the set.
  auto more = config::ResolveMetrics({"fid300_full"}, available, "");
  ASSERT_TRUE(more.ok());
  auto inception = LoadDetectors(*more, files, nullptr, "", torch::kCPU);
  ASSERT_TRUE(inception.ok());
  auto wants_more = MetricsEvaluator::Create(*more, std::move(*inception),
                                             reals, &group, options);
  ASSERT_TRUE(wants_more.ok());
  auto few = (*wants_more)->ExtractFakes(*fakes);
  EXPECT_EQ(few.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(few.status().message().find("fake.zip: 200 images, but the "
                                        "metrics need 300"),
            std::string::npos)
      << few.status();
}

}  // namespace
}  // namespace pgan::trainer
