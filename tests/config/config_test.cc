// The option table and what it drives without a process: JSON, validation
// and its messages on each surface, the resume rule, metric names, the
// generated docs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/match.h"
#include "common/file_util.h"
#include "config/fields.h"
#include "config/metric_name.h"
#include "config/options_doc.h"
#include "config/training_config.h"
#include "tests/config/samples.h"

namespace pgan::config {
namespace {

using Json = nlohmann::json;

// The defaults with what every run needs.
TrainingConfig Minimal() {
  TrainingConfig c;
  c.data = "/data/d.zip";
  c.outdir = "/runs";
  return c;
}

TrainingConfig WithValue(TrainingConfig c, const Field& f, const Json& v) {
  const absl::Status set = f.value->FromJson(v, &c);
  EXPECT_TRUE(set.ok()) << f.path() << ": " << set;
  return c;
}

TrainingConfig Sample() {
  TrainingConfig c = Minimal();
  for (const auto& [path, value] : testing::SampleValues().items()) {
    const Field* f = FindField(path);
    EXPECT_NE(f, nullptr) << "samples.h names " << path << ", not in the table";
    if (f != nullptr) c = WithValue(c, *f, value);
  }
  return c;
}

TEST(OptionTableTest, NamesAreUniqueAndDerivedTheSameWay) {
  std::set<std::string> paths, flags, job_keys;
  for (const Field& f : Fields()) {
    EXPECT_TRUE(paths.insert(f.path()).second) << f.path();
    EXPECT_FALSE(f.help.empty()) << f.path();
    if (!f.is_option()) {
      EXPECT_EQ(f.on_resume, OnResume::kDerived) << f.path();
      continue;
    }
    EXPECT_TRUE(absl::StartsWith(f.flag, "--")) << f.flag;
    EXPECT_TRUE(flags.insert(f.flag).second) << f.flag;
    EXPECT_TRUE(job_keys.insert(f.job_key()).second) << f.job_key();
    EXPECT_EQ(FindJobKey(f.job_key()), &f);
    EXPECT_EQ(FindField(f.path()), &f);
  }
  EXPECT_EQ(FindField("model.resolution")->job_key(), "res");
  EXPECT_EQ(FindField("batch_gpu")->NameOn(Surface::kFlags), "--batch-gpu");
  EXPECT_EQ(FindField("batch_gpu")->NameOn(Surface::kJobFile), "batch_gpu");
  EXPECT_EQ(FindField("model.cfg")->NameOn(Surface::kJobSpec),
            "training.model.cfg");
  EXPECT_EQ(FindField("model.c_dim")->NameOn(Surface::kFlags), "model.c_dim");
}

TEST(OptionTableTest, DefaultsAndSamplesKeepEveryRule) {
  EXPECT_TRUE(Minimal().Validate(1).ok()) << Minimal().Validate(1);
  const TrainingConfig sample = Sample();
  for (int world : {1, 2}) {
    EXPECT_TRUE(sample.Validate(world).ok()) << sample.Validate(world);
  }
  const Json samples = testing::SampleValues();
  for (const Field& f : Fields()) {
    if (f.path() == "model.img_channels") continue;  // Only 3 is valid.
    ASSERT_TRUE(samples.contains(f.path()))
        << "add a sample value of " << f.path() << " to tests/config/samples.h";
    EXPECT_FALSE(f.value->Equal(sample, TrainingConfig{}))
        << f.path() << ": the sample is the default";
  }
}

TEST(OptionTableTest, EveryRuledFieldRefusesItsBadValueNamingIt) {
  const Json bad = testing::BadValues();
  for (const Field& f : Fields()) {
    if (!f.is_option() || f.rule.empty() || f.required) continue;
    ASSERT_TRUE(bad.contains(f.path()))
        << "add a bad value of " << f.path() << " to tests/config/samples.h";
    const TrainingConfig c = WithValue(Minimal(), f, bad[f.path()]);
    const absl::Status status = c.Validate(1, Surface::kJobFile);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << f.path();
    EXPECT_TRUE(absl::StartsWith(status.message(), f.job_key() + ": "))
        << status;
  }
  for (const char* path : {"data", "outdir"}) {
    TrainingConfig c = Minimal();
    FindField(path)->value->FromJson("", &c).IgnoreError();
    EXPECT_TRUE(
        absl::StartsWith(c.Validate(1).message(), FindField(path)->flag + ": "))
        << c.Validate(1);
  }
}

TEST(OptionTableTest, CrossFieldRulesNameTheFieldsAsTheSurfaceDoes) {
  TrainingConfig c = Minimal();
  c.batch = 30;
  EXPECT_EQ(
      c.Validate(4, Surface::kJobSpec).message(),
      "training.batch: 30 is not divisible by the number of processes (4)");
  c.batch = 16;
  c.batch_gpu = 3;
  EXPECT_EQ(c.Validate(2).message(),
            "--batch-gpu: the batch per process (8 = --batch 16 / 2 processes) "
            "is not divisible by --batch-gpu 3");
  EXPECT_EQ(c.Validate(2, Surface::kJobFile).message(),
            "batch_gpu: the batch per process (8 = batch 16 / 2 processes) is "
            "not divisible by batch_gpu 3");
  for (const Json& combination : testing::BadCombinations()) {
    TrainingConfig bad = Minimal();
    for (const auto& [path, value] : combination.items()) {
      bad = WithValue(bad, *FindField(path), value);
    }
    EXPECT_EQ(bad.Validate(1).code(), absl::StatusCode::kInvalidArgument)
        << combination.dump();
  }
  c = Minimal();
  c.metrics = {"kid50k_full"};
  EXPECT_EQ(c.Validate(1).message(),
            "--metrics: kid50k_full needs --inception (NVIDIA's TorchScript "
            "Inception, inception-2015-12-05.pt)");
  c.metrics = {"fid50k_full_pytorchfid"};
  EXPECT_EQ(c.Validate(1, Surface::kJobSpec).message(),
            "training.metrics: fid50k_full_pytorchfid needs "
            "training.inception_pytorchfid (pytorch-fid's Inception-v3 "
            "weights, pt_inception-2015-12-05)");
  c.metrics = {"pr50k3_full"};
  c.inception = "/data/inception-2015-12-05.pt";
  EXPECT_EQ(c.Validate(1).message(),
            "--metrics: pr50k3_full needs --vgg16 (NVIDIA's TorchScript "
            "VGG16, vgg16.pt)");
  c.vgg16 = "/data/vgg16.pt";
  EXPECT_TRUE(c.Validate(1).ok()) << c.Validate(1);
  c.inception.clear();
  c.vgg16.clear();
  c.metrics = {"fid5000k_full"};
  EXPECT_EQ(c.Validate(1, Surface::kJobSpec).message(),
            "training.metrics: \"fid5000k_full\": the number of images must be "
            "2 to 1000000");
}

TEST(OptionTableTest, EveryFieldRoundTripsThroughJson) {
  const TrainingConfig sample = Sample();
  const Json json = sample.ToJson();
  absl::StatusOr<TrainingConfig> back = TrainingConfig::FromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  for (const Field& f : Fields()) {
    EXPECT_TRUE(f.value->Equal(*back, sample)) << f.path();
  }
  EXPECT_EQ(back->ToJson(), json);
  EXPECT_EQ(json["model"]["resolution"], 64);
  // Files written before a field existed: it keeps its default.
  Json old = json;
  old.erase("bucket_mb");
  EXPECT_EQ(TrainingConfig::FromJson(old)->bucket_mb,
            TrainingConfig{}.bucket_mb);
}

TEST(OptionTableTest, UnknownAndMistypedFieldsAreErrorsNamingThem) {
  Json json = Minimal().ToJson();
  json["batch_size"] = 64;
  EXPECT_EQ(TrainingConfig::FromJson(json, "t.json").status().message(),
            "t.json: unknown field \"batch_size\"");
  json = Minimal().ToJson();
  json["model"]["resolution"] = "64";
  EXPECT_EQ(
      TrainingConfig::FromJson(json, "t.json").status().message(),
      "t.json: field \"model.resolution\" must be an integer, got \"64\"");
  json = Minimal().ToJson();
  json["seed"] = -1;
  EXPECT_FALSE(TrainingConfig::FromJson(json).ok());
  json = Minimal().ToJson();
  json["metrics"] = "fid50k_full";
  EXPECT_NE(TrainingConfig::FromJson(json).status().message().find(
                "must be a list of strings"),
            std::string::npos);
}

TEST(OptionTableTest, CommandLineValuesParseAsTheirType) {
  TrainingConfig c;
  const auto parse = [&c](const char* path, const char* text) {
    return FindField(path)->value->Parse(text, &c);
  };
  EXPECT_TRUE(parse("mirror", "1").ok());
  EXPECT_TRUE(c.mirror);
  EXPECT_TRUE(parse("mirror", "false").ok());
  EXPECT_FALSE(c.mirror);
  EXPECT_TRUE(parse("metrics", "fid50k_full, kid50k_full").ok());
  EXPECT_EQ(c.metrics,
            (std::vector<std::string>{"fid50k_full", "kid50k_full"}));
  EXPECT_TRUE(parse("metrics", "none").ok());
  EXPECT_TRUE(c.metrics.empty());
  EXPECT_TRUE(parse("seed", "4294967295").ok());
  EXPECT_EQ(c.seed, 4294967295u);
  EXPECT_EQ(parse("seed", "-1").message(),
            "expected a non-negative integer, got \"-1\"");
  EXPECT_EQ(parse("batch", "eight").message(),
            "expected an integer, got \"eight\"");
  EXPECT_EQ(parse("mirror", "maybe").message(),
            "expected a boolean (1 or 0), got \"maybe\"");
  EXPECT_TRUE(parse("glr", "2e-3").ok());
  EXPECT_DOUBLE_EQ(c.glr, 2e-3);
}

TEST(ResumeRuleTest, EachFieldFollowsItsRule) {
  const TrainingConfig sample = Sample();
  for (const Field& f : Fields()) {
    TrainingConfig stored = Minimal();
    // Requested: the defaults but this field at its sample value.
    TrainingConfig requested;
    f.value->Copy(sample, &requested);
    const absl::Status merged = MergeForResume(requested, &stored);
    switch (f.on_resume) {
      case OnResume::kFixed:
        EXPECT_EQ(merged.message(),
                  f.flag + ": cannot change on resume (the snapshot's value, " +
                      f.value->Text(Minimal()) +
                      ", is used so that training continues exactly)")
            << f.path();
        break;
      case OnResume::kMayChange:
      case OnResume::kCurrent:
        EXPECT_TRUE(merged.ok()) << merged;
        EXPECT_TRUE(f.value->Equal(stored, sample)) << f.path();
        break;
      case OnResume::kDerived:
        EXPECT_TRUE(merged.ok()) << merged;
        EXPECT_TRUE(f.value->Equal(stored, Minimal())) << f.path();
        break;
    }
  }
  // Not given (the default), a fixed field keeps the snapshot's value, and
  // a value equal to the snapshot's is no change; execution fields always
  // follow the invocation.
  TrainingConfig stored = Sample();
  ASSERT_TRUE(MergeForResume(TrainingConfig{}, &stored).ok());
  EXPECT_EQ(stored.batch, 16);
  EXPECT_EQ(stored.threads, 0);
  EXPECT_EQ(stored.device, "auto");
  EXPECT_EQ(stored.kimg, 12.5);
  TrainingConfig same;
  same.batch = 16;
  EXPECT_TRUE(MergeForResume(same, &stored).ok());
}

TEST(MetricNamesTest, ParsesReferenceNames) {
  auto fid = ParseMetric("fid50k_full");
  ASSERT_TRUE(fid.ok()) << fid.status();
  EXPECT_EQ(fid->kind, MetricKind::kFid);
  EXPECT_EQ(fid->detector, MetricDetector::kInception);
  EXPECT_EQ(fid->num_fakes, 50000);
  EXPECT_EQ(fid->max_reals, 0);
  auto fd = ParseMetric("fd64_full");
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(fd->kind, MetricKind::kFd);
  EXPECT_EQ(fd->num_fakes, 64);
  // The reference's registration: KID on at most 1,000,000 reals, PR on
  // 200,000 with k = 3.
  auto kid = ParseMetric("kid50k_full");
  ASSERT_TRUE(kid.ok()) << kid.status();
  EXPECT_EQ(kid->max_reals, 1000000);
  auto pr = ParseMetric("pr50k3_full");
  ASSERT_TRUE(pr.ok()) << pr.status();
  EXPECT_EQ(pr->kind, MetricKind::kPr);
  EXPECT_EQ(pr->detector, MetricDetector::kVgg16);
  EXPECT_EQ(pr->num_fakes, 50000);
  EXPECT_EQ(pr->max_reals, 200000);
  auto small_pr = ParseMetric("pr2003_full");  // 200 images, k = 3.
  ASSERT_TRUE(small_pr.ok()) << small_pr.status();
  EXPECT_EQ(small_pr->num_fakes, 200);
  auto port = ParseMetric("fid10k_full_pytorchfid");
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(port->detector, MetricDetector::kPytorchFid);
  EXPECT_EQ(port->num_fakes, 10000);
  for (const char* bad :
       {"fid", "fid50k", "is50k", "fid1_full", "fidk_full", "fid-5k_full",
        "fid2000k_full", "fd12x_full", "fd1_full", "fid5000k_full",
        "pr50k_full", "pr50k5_full", "fd2k_full_pytorchfid",
        "fid50k_pytorchfid_full", "pr3_full"}) {
    EXPECT_FALSE(ParseMetric(bad).ok()) << bad;
  }
}

TEST(MetricNamesTest, WithoutInceptionFidIsNamedForTheFeatureNetwork) {
  const AvailableDetectors none, all{true, true, true};
  auto specs = ResolveMetrics({"fid2k_full", "fd100_full"}, none,
                              "tf_efficientnet_lite0");
  ASSERT_TRUE(specs.ok()) << specs.status();
  EXPECT_EQ((*specs)[0].name, "fd2k_full_efficientnet_lite0");
  EXPECT_EQ((*specs)[0].kind, MetricKind::kFd);
  EXPECT_EQ((*specs)[0].detector, MetricDetector::kFeatureNetwork);
  EXPECT_EQ((*specs)[1].name, "fd100_full_efficientnet_lite0");
  auto with = ResolveMetrics(
      {"fid50k_full", "kid50k_full", "pr50k3_full", "fid50k_full_pytorchfid"},
      all, "tf_efficientnet_lite0");
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ((*with)[0].name, "fid50k_full");
  EXPECT_EQ((*with)[1].name, "kid50k_full");
  EXPECT_EQ((*with)[2].name, "pr50k3_full");
  EXPECT_EQ((*with)[2].ResultKeys(),
            (std::vector<std::string>{"pr50k3_full_precision",
                                      "pr50k3_full_recall"}));
  EXPECT_EQ((*with)[3].name, "fid50k_full_pytorchfid");
  EXPECT_EQ((*with)[3].detector, MetricDetector::kPytorchFid);
  auto kid = ResolveMetrics({"kid50k_full"}, none, "tf_efficientnet_lite0");
  EXPECT_FALSE(kid.ok());
  EXPECT_NE(kid.status().message().find("inception-2015-12-05.pt"),
            std::string::npos);
  // pytorch-fid's weights never stand in for NVIDIA's Inception.
  const AvailableDetectors port_only{false, true, false};
  EXPECT_FALSE(
      ResolveMetrics({"kid50k_full"}, port_only, "tf_efficientnet_lite0").ok());
  auto fid =
      ResolveMetrics({"fid50k_full"}, port_only, "tf_efficientnet_lite0");
  ASSERT_TRUE(fid.ok());
  EXPECT_EQ((*fid)[0].kind, MetricKind::kFd);
  // fid2k without Inception is fd2k: asking for both is asking twice.
  EXPECT_FALSE(
      ResolveMetrics({"fid2k_full", "fd2k_full"}, none, "tf_efficientnet_lite0")
          .ok());
}

TEST(OptionsDocTest, TheDocsCarryTheCurrentTables) {
  for (const GeneratedBlock& block : GeneratedBlocks()) {
    const std::string path = std::string(PGAN_SOURCE_DIR) + "/" + block.file;
    absl::StatusOr<std::string> contents = ReadFile(path);
    ASSERT_TRUE(contents.ok()) << contents.status();
    absl::StatusOr<std::string> updated = ReplaceBlock(*contents, block);
    ASSERT_TRUE(updated.ok()) << updated.status();
    EXPECT_TRUE(*updated == *contents)
        << block.file << ": the " << block.name
        << " table is stale; run: cmake --build build --target options-doc";
  }
  for (const Field& f : Fields()) {
    if (!f.is_option()) continue;
    const std::string row = "| `" + f.flag + "` |";
    EXPECT_NE(GeneratedBlocks()[0].text.find(row), std::string::npos) << f.flag;
  }
}

}  // namespace
}  // namespace pgan::config
