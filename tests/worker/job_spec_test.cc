// Job files: the options of `pgan train` as JSON; errors name the field.
#include "worker/job_spec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"

namespace pgan::worker {
namespace {

using Json = nlohmann::json;

TEST(JobSpecTest, ReadsTrainOptionsAndCommSettings) {
  const Json json = {
      {"data", "d.zip"},  {"outdir", "runs"},    {"cfg", "fastgan"},
      {"res", 64},        {"batch", 32},         {"batch_gpu", 4},
      {"kimg", 12.5},     {"mirror", true},      {"threads", 3},
      {"backend", "mpi"}, {"comm_timeout_s", 5}, {"bucket_mb", 16}};
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
  EXPECT_EQ(job->backend, "mpi");
  EXPECT_EQ(job->comm.timeout, absl::Seconds(5));
  EXPECT_EQ(job->sync.bucket_bytes, int64_t{16} << 20);
}

TEST(JobSpecTest, RoundTripsThroughJson) {
  Json json = {
      {"data", "d.zip"}, {"outdir", "runs"}, {"batch", 8}, {"seed", 7}};
  auto job = ParseJobSpec(json, "a");
  ASSERT_TRUE(job.ok()) << job.status();
  auto again = ParseJobSpec(job->ToJson(), "b");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ToJson(), job->ToJson());
}

TEST(JobSpecTest, UnknownFieldIsAnErrorNamingIt) {
  auto job =
      ParseJobSpec(Json{{"data", "d.zip"}, {"batch_size", 64}}, "job.json");
  ASSERT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(
      job.status().message().find("job.json: unknown field \"batch_size\""),
      std::string::npos)
      << job.status();
}

TEST(JobSpecTest, WrongTypeNamesTheFieldAndWhatWasExpected) {
  auto job = ParseJobSpec(Json{{"batch", "64"}}, "job.json");
  ASSERT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(job.status().message().find("field \"batch\" must be an integer"),
            std::string::npos)
      << job.status();
  for (const Json& bad : {Json{{"comm_timeout_s", 0}}, Json{{"bucket_mb", -1}},
                          Json{{"backend", "gloo"}}, Json{{"seed", -3}}}) {
    auto status = ParseJobSpec(bad, "job.json").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad.dump();
    EXPECT_NE(status.message().find(bad.begin().key()), std::string::npos)
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

}  // namespace
}  // namespace pgan::worker
