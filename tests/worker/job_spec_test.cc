// Job files: the options of `pgan train` as JSON; errors name the field.
#include "worker/job_spec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "worker/job_proto.h"

namespace pgan::worker {
namespace {

using Json = nlohmann::json;

TEST(JobSpecTest, ReadsTrainOptionsAndCommSettings) {
  const Json json = {
      {"data", "d.zip"},  {"outdir", "runs"},  {"cfg", "fastgan"},
      {"res", 64},        {"batch", 32},       {"batch_gpu", 4},
      {"kimg", 12.5},     {"mirror", true},    {"threads", 3},
      {"backend", "mpi"}, {"comm_timeout", 5}, {"bucket_mb", 16},
      {"metrics", {"fd2k_full"}}, {"resume", "latest"}};
  auto job = ParseJobSpec(json, "job.json");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->training.data, "d.zip");
  EXPECT_EQ(job->training.model.cfg, "fastgan");
  EXPECT_EQ(job->training.model.resolution, 64);
  EXPECT_EQ(job->training.batch, 32);
  EXPECT_EQ(job->training.batch_gpu, 4);
  EXPECT_DOUBLE_EQ(job->training.kimg, 12.5);
  EXPECT_TRUE(job->training.mirror);
  EXPECT_EQ(job->training.threads, 3);
  EXPECT_EQ(job->training.metrics, std::vector<std::string>{"fd2k_full"});
  EXPECT_EQ(job->training.backend, "mpi");
  EXPECT_EQ(job->resume, "latest");
  EXPECT_EQ(job->surface, config::Surface::kJobFile);
  EXPECT_EQ(job->Comm().timeout, absl::Seconds(5));
  EXPECT_EQ(job->Sync().bucket_bytes, int64_t{16} << 20);
}

TEST(JobSpecTest, RoundTripsThroughJson) {
  Json json = {
      {"data", "d.zip"}, {"outdir", "runs"}, {"batch", 8}, {"seed", 7}};
  auto job = ParseJobSpec(json, "a");
  ASSERT_TRUE(job.ok()) << job.status();
  auto again = ParseJobSpec(job->ToJson(), "b");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ToJson(), job->ToJson());
  // Not given: 0, the dataset's, resolved when the run opens it.
  EXPECT_EQ(job->ToJson()["res"], 0);
}

TEST(JobSpecTest, UnknownFieldIsAnErrorNamingIt) {
  auto job =
      ParseJobSpec(Json{{"data", "d.zip"}, {"batch_size", 64}}, "job.json");
  ASSERT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(
      job.status().message().find("job.json: unknown field \"batch_size\""),
      std::string::npos)
      << job.status();
  // The old name of comm_timeout.
  EXPECT_FALSE(ParseJobSpec(Json{{"comm_timeout_s", 5}}, "job.json").ok());
}

TEST(JobSpecTest, WrongTypeNamesTheFieldAndWhatWasExpected) {
  auto job = ParseJobSpec(Json{{"batch", "64"}}, "job.json");
  ASSERT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(job.status().message().find("field \"batch\" must be an integer"),
            std::string::npos)
      << job.status();
  EXPECT_FALSE(ParseJobSpec(Json{{"seed", -3}}, "job.json").ok());
  // Values of the right type are the trainer's to check, with the world
  // size, naming the job file's keys.
  for (const Json& bad : {Json{{"comm_timeout", 0}}, Json{{"bucket_mb", -1}},
                          Json{{"backend", "gloo"}}}) {
    auto parsed = ParseJobSpec(bad, "job.json");
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    parsed->training.data = "d.zip";
    parsed->training.outdir = "runs";
    const absl::Status status =
        parsed->training.Validate(1, config::Surface::kJobFile);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad.dump();
    EXPECT_EQ(status.message().rfind(bad.begin().key() + ": ", 0), 0u)
        << status;
  }
}

TEST(JobSpecTest, NotAnObjectOrNotJson) {
  EXPECT_EQ(ParseJobSpec(Json::array({1, 2}), "job.json").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto missing = ReadJobFile("/nonexistent/job.json");
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/job.json"),
            std::string::npos)
      << missing.status();
}

// --world-invariant's "auto" (the unset field) follows the job's elasticity;
// a value the spec gives stays.
TEST(JobSpecTest, AnElasticJobIsWorldInvariantUnlessItSaysOtherwise) {
  pgan::v1::JobSpec spec;
  auto job = JobSpecFromProto(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->training.world_invariant, "off");
  spec.set_elastic(true);
  job = JobSpecFromProto(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->training.world_invariant, "on");
  spec.mutable_training()->set_world_invariant("off");
  job = JobSpecFromProto(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->training.world_invariant, "off");
}

}  // namespace
}  // namespace pgan::worker
