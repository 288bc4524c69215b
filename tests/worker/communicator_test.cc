// Unit tests of the communication layer that need no launcher: the config,
// the one-process backend, the check macros and the poller.
#include "worker/communicator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "worker/check.h"
#include "worker/deadline_poller.h"
#include "worker/local_communicator.h"

namespace pgan::comm {
namespace {

CommConfig LocalConfig() {
  CommConfig config;
  config.backend = Backend::kLocal;
  return config;
}

std::unique_ptr<Communicator> MakeLocal() {
  auto comm = CreateCommunicator(LocalConfig());
  EXPECT_TRUE(comm.ok()) << comm.status();
  return comm.ok() ? std::move(comm).value() : nullptr;
}

TEST(CommConfigTest, DefaultsAreValid) {
  EXPECT_TRUE(CommConfig().Validate().ok());
}

TEST(CommConfigTest, RejectsTimeoutsThatAreNotPositiveAndFinite) {
  for (absl::Duration timeout :
       {absl::ZeroDuration(), absl::Seconds(-1), absl::InfiniteDuration()}) {
    CommConfig config;
    config.timeout = timeout;
    const absl::Status status = config.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << timeout;
    EXPECT_NE(status.message().find("CommConfig.timeout"),
              absl::string_view::npos)
        << status;
  }
}

TEST(CommConfigTest, RejectsNegativeDevice) {
  CommConfig config;
  config.device = -2;
  const absl::Status status = config.Validate();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("CommConfig.device"),
            absl::string_view::npos);
}

TEST(CommConfigTest, CreateCommunicatorValidatesFirst) {
  CommConfig config = LocalConfig();
  config.timeout = absl::ZeroDuration();
  EXPECT_EQ(CreateCommunicator(config).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BackendTest, NamesRoundTrip) {
  for (Backend backend :
       {Backend::kLocal, Backend::kMpi, Backend::kNccl, Backend::kGloo}) {
    auto parsed = ParseBackend(BackendName(backend));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, backend);
  }
  EXPECT_EQ(BackendName(Backend::kNccl), "nccl");
}

TEST(BackendTest, UnknownNameListsTheAcceptedOnes) {
  const absl::Status status = ParseBackend("ucc").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("local, mpi, nccl or gloo"),
            absl::string_view::npos);
}

TEST(LocalCommunicatorTest, IsRankZeroOfOne) {
  auto comm = MakeLocal();
  ASSERT_NE(comm, nullptr);
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->world_size(), 1);
  EXPECT_EQ(comm->local_rank(), 0);
  EXPECT_EQ(comm->backend(), Backend::kLocal);
}

TEST(LocalCommunicatorTest, CollectivesLeaveDataAsItIs) {
  auto comm = MakeLocal();
  ASSERT_NE(comm, nullptr);
  std::vector<float> data = {1.5f, -2.0f, 3.25f};
  ASSERT_TRUE(comm->AllReduceSum(data.data(), data.size()).ok());
  EXPECT_EQ(data, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  ASSERT_TRUE(comm->Broadcast(data.data(), sizeof(float) * 3, 0).ok());
  ASSERT_TRUE(comm->BroadcastHost(data.data(), sizeof(float) * 3, 0).ok());
  EXPECT_EQ(data, (std::vector<float>{1.5f, -2.0f, 3.25f}));
  EXPECT_TRUE(comm->Barrier().ok());
  EXPECT_TRUE(comm->AllReduceSum(static_cast<float*>(nullptr), 0).ok());
}

TEST(LocalCommunicatorTest, AllGatherHostReturnsTheOneValue) {
  auto comm = MakeLocal();
  ASSERT_NE(comm, nullptr);
  uint64_t out = 0;
  ASSERT_TRUE(comm->AllGatherHost(0xfeedbeefcafeULL, &out).ok());
  EXPECT_EQ(out, 0xfeedbeefcafeULL);
}

TEST(LocalCommunicatorTest, RejectsBadArguments) {
  auto comm = MakeLocal();
  ASSERT_NE(comm, nullptr);
  char byte = 0;
  EXPECT_EQ(comm->AllReduceSum(static_cast<float*>(nullptr), 4).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(comm->Broadcast(&byte, 1, /*root=*/1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(comm->BroadcastHost(nullptr, 1, /*root=*/0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(comm->AllGatherHost(1, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LocalCommunicatorDeathTest, AbortExitsWithTheCodeAndReason) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  LocalCommunicator comm;
  EXPECT_EXIT(comm.Abort("ranks diverged at tick 7", 42),
              ::testing::ExitedWithCode(42), "ranks diverged at tick 7");
}

TEST(NcclBackendTest, UnimplementedWithoutNccl) {
  if (PGAN_HAVE_NCCL) GTEST_SKIP() << "this build has the NCCL backend";
  CommConfig config;
  config.backend = Backend::kNccl;
  const absl::Status status = CreateCommunicator(config).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(status.message().find("NCCL"), absl::string_view::npos);
}

// The check macros on calls that fail without touching a library.
int FailingMpiCall() { return MPI_ERR_COUNT; }
int SucceedingMpiCall() { return MPI_SUCCESS; }

absl::Status CheckMpi(bool fail) {
  PGAN_MPI_CHECK(SucceedingMpiCall());
  if (fail) PGAN_MPI_CHECK(FailingMpiCall());
  return absl::OkStatus();
}

TEST(CheckMacroTest, MpiFailureNamesCallAndPlace) {
  EXPECT_TRUE(CheckMpi(false).ok());
  const absl::Status status = CheckMpi(true);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  const std::string message(status.message());
  EXPECT_NE(message.find("FailingMpiCall() failed at "
                         "worker/communicator_test.cc:"),
            std::string::npos)
      << message;
  // MPI is not initialised here, so only the code is known.
  EXPECT_NE(message.find(absl::StrCat("MPI error code ", MPI_ERR_COUNT)),
            std::string::npos)
      << message;
}

#if PGAN_HAVE_NCCL
cudaError_t FailingCudaCall() { return cudaErrorInvalidValue; }
ncclResult_t NcclCall(ncclResult_t result) { return result; }

absl::Status CheckCuda() {
  PGAN_CUDA_CHECK(FailingCudaCall());
  return absl::OkStatus();
}

absl::Status CheckNccl(ncclResult_t result) {
  PGAN_NCCL_CHECK(NcclCall(result));
  return absl::OkStatus();
}

TEST(CheckMacroTest, CudaFailureCarriesCudaErrorString) {
  const absl::Status status = CheckCuda();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  const std::string message(status.message());
  EXPECT_NE(message.find("FailingCudaCall() failed at "
                         "worker/communicator_test.cc:"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("cudaErrorInvalidValue"), std::string::npos)
      << message;
  EXPECT_NE(message.find(cudaGetErrorString(cudaErrorInvalidValue)),
            std::string::npos)
      << message;
}

TEST(CheckMacroTest, NcclFailureCarriesNcclErrorString) {
  EXPECT_TRUE(CheckNccl(ncclSuccess).ok());
  EXPECT_TRUE(CheckNccl(ncclInProgress).ok());
  const absl::Status invalid = CheckNccl(ncclInvalidArgument);
  EXPECT_EQ(invalid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(invalid.message().find("NcclCall(result) failed at"),
            absl::string_view::npos)
      << invalid;
  EXPECT_NE(invalid.message().find(ncclGetErrorString(ncclInvalidArgument)),
            absl::string_view::npos)
      << invalid;
  // A peer or the network: the job has to restart.
  EXPECT_EQ(CheckNccl(ncclRemoteError).code(), absl::StatusCode::kAborted);
}
#endif  // PGAN_HAVE_NCCL

TEST(DeadlinePollerTest, StopsAtTheDeadline) {
  DeadlinePoller poller(absl::Milliseconds(30), absl::ZeroDuration(),
                        absl::Milliseconds(1));
  int polls = 0;
  while (poller.Wait()) ++polls;
  EXPECT_GE(poller.elapsed(), absl::Milliseconds(30));
  EXPECT_LT(poller.elapsed(), absl::Milliseconds(500));
  // It slept: far fewer polls than a busy loop of 30 ms would make.
  EXPECT_GT(polls, 0);
  EXPECT_LT(polls, 2000);
}

TEST(DeadlinePollerTest, SpinsWithoutSleepingFirst) {
  // A 20 ms spin polls far more often than sleeps of at least 20 us could.
  DeadlinePoller poller(absl::Milliseconds(20), absl::Milliseconds(20),
                        absl::Milliseconds(1));
  int polls = 0;
  while (poller.Wait()) ++polls;
  EXPECT_GT(polls, 2000);
}

TEST(FormatSecondsTest, WritesSeconds) {
  EXPECT_EQ(FormatSeconds(absl::Seconds(60)), "60 s");
  EXPECT_EQ(FormatSeconds(absl::Milliseconds(2500)), "2.5 s");
}

}  // namespace
}  // namespace pgan::comm
