// The MPI backend under `mpirun -np N` (CTest runs N = 2). Every rank runs
// the same tests in the same order, so the collectives inside them match.
// main() sums the failures of all ranks with MPI_Allreduce, and every rank
// exits non-zero when any rank failed: gtest's own main would let a failure
// on rank 1 pass unnoticed behind rank 0's success.
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "worker/check.h"
#include "worker/communicator.h"

namespace pgan::comm {
namespace {

// The one communicator of this process: MPI can be initialised only once.
Communicator* g_comm = nullptr;

TEST(MpiCommunicatorTest, KnowsItsPlace) {
  EXPECT_EQ(g_comm->backend(), Backend::kMpi);
  int rank = -1;
  int size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(g_comm->rank(), rank);
  EXPECT_EQ(g_comm->world_size(), size);
  EXPECT_GE(g_comm->world_size(), 2) << "run this under mpirun -np 2 or more";
}

// Rank r's local rank counts the ranks before it on its host.
TEST(MpiCommunicatorTest, LocalRankCountsEarlierRanksOnTheSameHost) {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const uint64_t host_hash = std::hash<std::string>()(host);
  const int n = g_comm->world_size();
  std::vector<uint64_t> hosts(n);
  std::vector<uint64_t> local_ranks(n);
  ASSERT_TRUE(g_comm->AllGatherHost(host_hash, hosts.data()).ok());
  ASSERT_TRUE(
      g_comm->AllGatherHost(g_comm->local_rank(), local_ranks.data()).ok());
  for (int r = 0; r < n; ++r) {
    uint64_t expected = 0;
    for (int q = 0; q < r; ++q) expected += hosts[q] == hosts[r] ? 1 : 0;
    EXPECT_EQ(local_ranks[r], expected) << "rank " << r;
  }
}

TEST(MpiCommunicatorTest, AllReduceSumAddsEveryRanksValues) {
  const int n = g_comm->world_size();
  const int rank = g_comm->rank();
  for (size_t count : {size_t{0}, size_t{1}, size_t{1000}, size_t{1} << 20}) {
    std::vector<float> data(count);
    for (size_t i = 0; i < count; ++i) {
      data[i] = static_cast<float>(rank + 1) * static_cast<float>(i % 1024);
    }
    ASSERT_TRUE(g_comm->AllReduceSum(data.data(), count).ok());
    // Small integers: exact in float whatever the summation order.
    const float ranks_sum = static_cast<float>(n * (n + 1) / 2);
    size_t wrong = 0;
    for (size_t i = 0; i < count; ++i) {
      wrong += data[i] != ranks_sum * static_cast<float>(i % 1024) ? 1 : 0;
    }
    EXPECT_EQ(wrong, 0u) << "count " << count;
  }
}

// Doubles keep what a float cannot (1 + 2^-40): the invariant mode's sums.
TEST(MpiCommunicatorTest, AllReduceSumOfDoublesKeepsDoublePrecision) {
  const int n = g_comm->world_size();
  const double x = 1 + std::ldexp(1.0, -40);
  std::vector<double> data(1000, (g_comm->rank() + 1) * x);
  ASSERT_TRUE(g_comm->AllReduceSum(data.data(), data.size()).ok());
  for (double y : data) ASSERT_EQ(y, n * (n + 1) / 2 * x);
}

TEST(MpiCommunicatorTest, BroadcastCopiesTheRootsBytes) {
  const int n = g_comm->world_size();
  for (int root = 0; root < n; ++root) {
    std::vector<uint8_t> data(100003);
    for (size_t i = 0; i < data.size(); ++i) {
      data[i] = static_cast<uint8_t>((i * 7 + g_comm->rank() * 13) & 0xff);
    }
    ASSERT_TRUE(g_comm->Broadcast(data.data(), data.size(), root).ok());
    size_t wrong = 0;
    for (size_t i = 0; i < data.size(); ++i) {
      wrong += data[i] != static_cast<uint8_t>((i * 7 + root * 13) & 0xff);
    }
    EXPECT_EQ(wrong, 0u) << "root " << root;
  }
}

TEST(MpiCommunicatorTest, BroadcastHostCopiesTheRootsBytes) {
  const int root = g_comm->world_size() - 1;
  char text[32] = {};
  std::snprintf(text, sizeof(text), "from rank %d", g_comm->rank());
  ASSERT_TRUE(g_comm->BroadcastHost(text, sizeof(text), root).ok());
  EXPECT_EQ(std::string(text), "from rank " + std::to_string(root));
}

TEST(MpiCommunicatorTest, BroadcastRejectsARootOutsideTheJob) {
  char byte = 0;
  // Every rank fails the same way before any communication.
  EXPECT_EQ(g_comm->Broadcast(&byte, 1, g_comm->world_size()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g_comm->BroadcastHost(&byte, 1, -1).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MpiCommunicatorTest, AllGatherHostCollectsOneValuePerRank) {
  const int n = g_comm->world_size();
  std::vector<uint64_t> out(n, 0);
  const uint64_t mine = (uint64_t{1} << 40) + 17 * g_comm->rank();
  ASSERT_TRUE(g_comm->AllGatherHost(mine, out.data()).ok());
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(out[r], (uint64_t{1} << 40) + 17 * r) << "rank " << r;
  }
}

TEST(MpiCommunicatorTest, BarrierWaitsForTheLastRank) {
  // Rank 0 comes late; nobody may leave the barrier before it arrives.
  using Clock = std::chrono::steady_clock;
  ASSERT_TRUE(g_comm->Barrier().ok());
  const Clock::time_point start = Clock::now();
  if (g_comm->rank() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ASSERT_TRUE(g_comm->Barrier().ok());
  const double waited =
      std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GE(waited, 0.25) << "rank " << g_comm->rank();
}

TEST(MpiCommunicatorTest, ManyCollectivesInARow) {
  float value = 0.0f;
  for (int i = 0; i < 500; ++i) {
    value = 1.0f;
    ASSERT_TRUE(g_comm->AllReduceSum(&value, 1).ok()) << "iteration " << i;
  }
  EXPECT_EQ(value, static_cast<float>(g_comm->world_size()));
}

absl::Status BadMpiCall() {
  MPI_Comm self;
  PGAN_MPI_CHECK(MPI_Comm_dup(MPI_COMM_SELF, &self));
  PGAN_MPI_CHECK(MPI_Comm_set_errhandler(self, MPI_ERRORS_RETURN));
  char byte = 0;
  const absl::Status status = [&]() -> absl::Status {
    PGAN_MPI_CHECK(MPI_Bcast(&byte, -1, MPI_BYTE, 0, self));
    return absl::OkStatus();
  }();
  MPI_Comm_free(&self);
  return status;
}

TEST(MpiCheckTest, FailureCarriesMpisErrorString) {
  const absl::Status status = BadMpiCall();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  const std::string message(status.message());
  EXPECT_NE(message.find("MPI_Bcast(&byte, -1, MPI_BYTE, 0, self) failed at "
                         "worker/mpi_communicator_test.cc:"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("MPI_ERR_COUNT"), std::string::npos) << message;
}

}  // namespace
}  // namespace pgan::comm

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  pgan::comm::CommConfig config;
  config.backend = pgan::comm::Backend::kMpi;
  config.timeout = absl::Seconds(30);
  auto comm = pgan::comm::CreateCommunicator(config);
  if (!comm.ok()) {
    std::fprintf(stderr, "CreateCommunicator: %s\n",
                 std::string(comm.status().message()).c_str());
    return 1;  // mpirun ends the job: this rank did not finalise MPI.
  }
  pgan::comm::g_comm = comm->get();
  const int rank = pgan::comm::g_comm->rank();
  const int world_size = pgan::comm::g_comm->world_size();

  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int ranks_failed = 0;
  MPI_Allreduce(&failed, &ranks_failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) {
    std::printf("%d of %d ranks failed\n", ranks_failed, world_size);
  }
  comm->reset();  // Waits for every rank, finalises MPI.
  return ranks_failed == 0 ? 0 : 1;
}
