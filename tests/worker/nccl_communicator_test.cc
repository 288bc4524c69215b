// The NCCL backend in a job of one rank (a machine with one GPU cannot run
// more: NCCL refuses two ranks on one device). Without a CUDA device it
// checks that creating the backend fails cleanly instead. Multi-rank NCCL
// (ring/tree traffic, a peer's failure seen through
// ncclCommGetAsyncError) needs a machine with several GPUs.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "worker/communicator.h"

namespace pgan::comm {
namespace {

bool HaveCudaDevice() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

CommConfig NcclConfig() {
  CommConfig config;
  config.backend = Backend::kNccl;
  config.timeout = absl::Seconds(30);
  config.device = 0;
  return config;
}

// One process creates MPI once: every check is in one test.
TEST(NcclCommunicatorTest, OneRankCollectivesOnTheDevice) {
  if (!HaveCudaDevice()) GTEST_SKIP() << "no CUDA device";
  auto created = CreateCommunicator(NcclConfig());
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<Communicator> comm = std::move(created).value();
  EXPECT_EQ(comm->backend(), Backend::kNccl);
  EXPECT_EQ(comm->world_size(), 1);

  const size_t count = size_t{1} << 20;
  std::vector<float> host(count);
  for (size_t i = 0; i < count; ++i) host[i] = static_cast<float>(i % 977);
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(&device, count * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device, host.data(), count * sizeof(float),
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(comm->AllReduceSum(device, count).ok());
    ASSERT_TRUE(comm->Broadcast(device, count * sizeof(float), 0).ok());
  }
  std::vector<float> back(count);
  ASSERT_EQ(cudaMemcpy(back.data(), device, count * sizeof(float),
                       cudaMemcpyDeviceToHost),
            cudaSuccess);
  EXPECT_EQ(back, host);  // One rank: the sum is the value itself.
  EXPECT_EQ(comm->Broadcast(device, 4, /*root=*/1).code(),
            absl::StatusCode::kInvalidArgument);
  cudaFree(device);

  uint64_t gathered = 0;
  ASSERT_TRUE(comm->AllGatherHost(77, &gathered).ok());
  EXPECT_EQ(gathered, 77u);
  EXPECT_TRUE(comm->Barrier().ok());
}

TEST(NcclCommunicatorTest, WithoutDeviceCreationFailsCleanly) {
  if (HaveCudaDevice()) GTEST_SKIP() << "a CUDA device is present";
  const absl::Status status = CreateCommunicator(NcclConfig()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("cudaGetDeviceCount"),
            absl::string_view::npos)
      << status;
}

}  // namespace
}  // namespace pgan::comm
