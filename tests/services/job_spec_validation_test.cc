// JobSpec validation: a good spec passes; each bad field is named with its
// rule; paths cannot leave their roots (.., symlinks, prefixes).
#include "services/job_spec_validation.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <string>

#include "tests/common/test_dir.h"

namespace pgan::services {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::TestDir;

class JobSpecValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.file("data"));
    fs::create_directories(dir_.file("data2"));
    fs::create_directories(dir_.file("out"));
    roots_.data = {dir_.file("data")};
    roots_.output = {dir_.file("out")};
  }

  pgan::v1::JobSpec Good() const {
    pgan::v1::JobSpec spec;
    spec.set_name("pokemon-256");
    spec.mutable_resources()->set_workers(4);
    spec.mutable_resources()->set_gpus_per_worker(1);
    pgan::v1::TrainingOptions* t = spec.mutable_training();
    t->mutable_model()->set_cfg("fastgan_lite");
    t->mutable_model()->set_resolution(256);
    t->set_data(dir_.file("data") + "/pokemon-256.zip");
    t->set_batch(64);
    t->set_batch_gpu(8);
    t->set_kimg(10000);
    spec.set_output_dir(dir_.file("out") + "/runs");
    return spec;
  }

  // The message of the error for `spec`, which must be INVALID_ARGUMENT.
  std::string Error(const pgan::v1::JobSpec& spec) const {
    const absl::Status status = ValidateJobSpec(spec, roots_);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    return std::string(status.message());
  }

  TestDir dir_;
  PathRoots roots_;
};

TEST_F(JobSpecValidationTest, GoodSpecPasses) {
  EXPECT_TRUE(ValidateJobSpec(Good(), roots_).ok())
      << ValidateJobSpec(Good(), roots_);
}

TEST_F(JobSpecValidationTest, EachBadFieldIsNamed) {
  struct Case {
    const char* expected;  // Start of the message.
    void (*mutate)(pgan::v1::JobSpec&);
  };
  const Case cases[] = {
      {"name: only letters", [](pgan::v1::JobSpec& s) { s.set_name("a b"); }},
      {"name: at most 128",
       [](pgan::v1::JobSpec& s) { s.set_name(std::string(129, 'a')); }},
      {"resources: required",
       [](pgan::v1::JobSpec& s) { s.clear_resources(); }},
      {"resources.workers: expected 1 to 1024, got 0",
       [](pgan::v1::JobSpec& s) { s.mutable_resources()->set_workers(0); }},
      {"resources.gpus_per_worker: expected 0 to 1, got 8",
       [](pgan::v1::JobSpec& s) {
         s.mutable_resources()->set_gpus_per_worker(8);
       }},
      {"training.data: a dataset is required",
       [](pgan::v1::JobSpec& s) { s.clear_training(); }},
      {"training.model.cfg: expected \"fastgan\"",
       [](pgan::v1::JobSpec& s) {
         s.mutable_training()->mutable_model()->set_cfg("stylegan");
       }},
      {"training.model.resolution: expected 0 (the dataset's) or a power of "
       "two",
       [](pgan::v1::JobSpec& s) {
         s.mutable_training()->mutable_model()->set_resolution(300);
       }},
      {"training.data: a dataset is required",
       [](pgan::v1::JobSpec& s) { s.mutable_training()->clear_data(); }},
      {"training.batch: 30 is not divisible by the number of processes (4)",
       [](pgan::v1::JobSpec& s) { s.mutable_training()->set_batch(30); }},
      {"training.batch_gpu: the batch per process (16 = training.batch 64 / 4 "
       "processes) is not divisible by training.batch_gpu 5",
       [](pgan::v1::JobSpec& s) { s.mutable_training()->set_batch_gpu(5); }},
      {"training.kimg: expected a number above 0",
       [](pgan::v1::JobSpec& s) {
         s.mutable_training()->set_kimg(
             std::numeric_limits<double>::quiet_NaN());
       }},
      {"training.kimg: expected a number above 0",
       [](pgan::v1::JobSpec& s) { s.mutable_training()->set_kimg(-1); }},
      {"training.glr: expected 0 (the cfg's) or a number above 0",
       [](pgan::v1::JobSpec& s) { s.mutable_training()->set_glr(-1e-4); }},
      {"training.seed: expected an integer below 2^32",
       [](pgan::v1::JobSpec& s) {
         s.mutable_training()->set_seed(uint64_t{1} << 40);
       }},
      {"training.threads: expected an integer from 0 to 1024",
       [](pgan::v1::JobSpec& s) { s.mutable_training()->set_threads(-2); }},
      {"training.grid_width: expected an integer from 0 to 64",
       [](pgan::v1::JobSpec& s) { s.mutable_training()->set_grid_width(65); }},
      {"training.grid_height: expected an integer from 0 to 64",
       [](pgan::v1::JobSpec& s) { s.mutable_training()->set_grid_height(-1); }},
      {"priority: expected 0 to 100, got 1000",
       [](pgan::v1::JobSpec& s) { s.set_priority(1000); }},
      {"max_restarts: expected 0 to 100, got -1",
       [](pgan::v1::JobSpec& s) { s.set_max_restarts(-1); }},
      {"output_dir: expected an absolute path",
       [](pgan::v1::JobSpec& s) { s.set_output_dir("runs"); }},
  };
  for (const Case& c : cases) {
    pgan::v1::JobSpec spec = Good();
    c.mutate(spec);
    const std::string message = Error(spec);
    EXPECT_EQ(message.rfind(c.expected, 0), 0u)
        << "expected \"" << c.expected << "...\", got \"" << message << "\"";
  }
}

TEST_F(JobSpecValidationTest, PathsStayInsideTheirRoots) {
  const std::string data = dir_.file("data");
  EXPECT_TRUE(ConfinePath("f", data + "/a/b.zip", {data}).ok());
  EXPECT_TRUE(ConfinePath("f", data, {data}).ok());
  EXPECT_TRUE(ConfinePath("f", data + "/x/../y.zip", {data}).ok());
  // Out by `..`, by a sibling with the root as a prefix, by a symlink.
  EXPECT_FALSE(ConfinePath("f", data + "/../out/x.zip", {data}).ok());
  EXPECT_FALSE(ConfinePath("f", dir_.file("data2") + "/x.zip", {data}).ok());
  fs::create_directory_symlink(dir_.file("out"), data + "/escape");
  const auto escaped =
      ConfinePath("training.data", data + "/escape/x.zip", {data});
  EXPECT_EQ(escaped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(escaped.status().message().find("training.data: "),
            std::string::npos)
      << escaped.status();
  EXPECT_NE(escaped.status().message().find("outside the allowed roots"),
            std::string::npos)
      << escaped.status();
  // No roots, relative paths, embedded NUL.
  EXPECT_FALSE(ConfinePath("f", data + "/a.zip", {}).ok());
  EXPECT_FALSE(ConfinePath("f", "a.zip", {data}).ok());
  EXPECT_FALSE(ConfinePath("f", std::string("/a\0b", 4), {"/"}).ok());
}

TEST_F(JobSpecValidationTest, DatasetOutsideTheDataRootsIsRejected) {
  pgan::v1::JobSpec spec = Good();
  spec.mutable_training()->set_data("/etc/passwd");
  EXPECT_EQ(Error(spec).rfind("training.data: /etc/passwd is outside", 0), 0u)
      << Error(spec);
  spec = Good();
  spec.set_output_dir(dir_.file("data") + "/runs");
  EXPECT_EQ(Error(spec).rfind("output_dir: ", 0), 0u) << Error(spec);
  // Every path of the option table: weights under a data root, the
  // statistics cache under a data or an output root.
  spec = Good();
  spec.mutable_training()->set_feature_weights("/etc/shadow");
  EXPECT_EQ(Error(spec).rfind("training.feature_weights: /etc/shadow", 0), 0u)
      << Error(spec);
  spec = Good();
  spec.mutable_training()->set_inception(dir_.file("out") + "/i.pth");
  EXPECT_EQ(Error(spec).rfind("training.inception: ", 0), 0u) << Error(spec);
  spec = Good();
  spec.mutable_training()->set_metrics_cache(dir_.file("out") + "/stats");
  EXPECT_TRUE(ValidateJobSpec(spec, roots_).ok());
  spec.mutable_training()->set_metrics_cache("/tmp/stats");
  EXPECT_EQ(Error(spec).rfind("training.metrics_cache: ", 0), 0u)
      << Error(spec);
}

}  // namespace
}  // namespace pgan::services
