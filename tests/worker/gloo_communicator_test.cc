// The Gloo backend with its ranks as threads of this process, meeting
// through an in-memory store on 127.0.0.1: results of every collective, a
// rank that never arrives, a rank that goes silent and one whose process
// side goes away. Also the coordinator's JobSpec as the worker's.
#include "worker/gloo_communicator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "worker/job_proto.h"
#include "worker/key_value_store.h"

namespace pgan::comm {
namespace {

GlooOptions Options(int rank, int world, absl::Duration timeout) {
  GlooOptions options;
  options.rank = rank;
  options.world_size = world;
  options.hostname = "127.0.0.1";
  options.timeout = timeout;
  return options;
}

// Runs `body(rank, comm)` on `world` threads, each with its communicator.
void OnRanks(int world, absl::Duration timeout,
             const std::function<void(int, GlooCommunicator&)>& body) {
  InMemoryKeyValueStore store;
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      auto comm =
          GlooCommunicator::Create(Options(rank, world, timeout), &store);
      ASSERT_TRUE(comm.ok()) << comm.status();
      body(rank, **comm);
    });
  }
  for (std::thread& t : threads) t.join();
}

TEST(GlooCommunicatorTest, CollectivesGiveTheSameResultsAsTheirDefinitions) {
  static constexpr int kWorld = 3;
  OnRanks(kWorld, absl::Seconds(20), [](int rank, GlooCommunicator& comm) {
    EXPECT_EQ(comm.rank(), rank);
    EXPECT_EQ(comm.world_size(), kWorld);
    EXPECT_EQ(comm.backend(), Backend::kGloo);

    // Sum over ranks of (rank + 1) * i, over more than one Gloo segment.
    std::vector<float> data(300000);
    for (size_t i = 0; i < data.size(); ++i) data[i] = (rank + 1) * (i % 97);
    ASSERT_TRUE(comm.AllReduceSum(data.data(), data.size()).ok());
    for (size_t i = 0; i < data.size(); i += 1237) {
      ASSERT_EQ(data[i], 6.0f * (i % 97)) << i;
    }
    // Doubles too, with values a float cannot hold (1 + 2^-40).
    std::vector<double> wide(1000, (rank + 1) * (1 + std::ldexp(1.0, -40)));
    ASSERT_TRUE(comm.AllReduceSum(wide.data(), wide.size()).ok());
    for (double x : wide) ASSERT_EQ(x, 6 * (1 + std::ldexp(1.0, -40)));

    std::vector<uint8_t> bytes(1000, static_cast<uint8_t>(rank));
    if (rank == 2) std::iota(bytes.begin(), bytes.end(), 0);
    ASSERT_TRUE(comm.BroadcastHost(bytes.data(), bytes.size(), 2).ok());
    for (size_t i = 0; i < bytes.size(); ++i) {
      ASSERT_EQ(bytes[i], static_cast<uint8_t>(i));
    }

    std::vector<uint64_t> all(kWorld);
    ASSERT_TRUE(comm.AllGatherHost(100 + rank, all.data()).ok());
    EXPECT_EQ(all, (std::vector<uint64_t>{100, 101, 102}));
    EXPECT_TRUE(comm.Barrier().ok());
    EXPECT_EQ(comm.Broadcast(bytes.data(), 1, 3).code(),
              absl::StatusCode::kInvalidArgument);
  });
}

TEST(GlooCommunicatorTest, ARankThatNeverArrivesFailsTheRendezvousInTime) {
  InMemoryKeyValueStore store;
  const absl::Time start = absl::Now();
  auto comm = GlooCommunicator::Create(Options(0, 2, absl::Seconds(1)), &store);
  ASSERT_FALSE(comm.ok());
  EXPECT_EQ(comm.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(comm.status().message().find("rank 0 of 2"), std::string::npos)
      << comm.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(GlooCommunicatorTest, ASilentRankTimesOutAndTheCommunicatorStaysBroken) {
  OnRanks(2, absl::Seconds(1), [](int rank, GlooCommunicator& comm) {
    ASSERT_TRUE(comm.Barrier().ok());
    if (rank == 1) {
      // Silent for longer than the timeout, then gone.
      absl::SleepFor(absl::Seconds(3));
      return;
    }
    float x = 1;
    const absl::Status status = comm.AllReduceSum(&x, 1);
    EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
    EXPECT_NE(status.message().find("did not answer within 1s"),
              std::string::npos)
        << status;
    EXPECT_EQ(comm.Barrier(), status) << "the first failure sticks";
  });
}

TEST(GlooCommunicatorTest, APeerThatGoesAwayFailsTheNextCollectiveAtOnce) {
  InMemoryKeyValueStore store;
  std::unique_ptr<GlooCommunicator> survivor;
  std::thread peer([&] {
    auto comm =
        GlooCommunicator::Create(Options(1, 2, absl::Seconds(30)), &store);
    ASSERT_TRUE(comm.ok()) << comm.status();
    ASSERT_TRUE((*comm)->Barrier().ok());
    // Destroyed here: its connections close, as when its process dies.
  });
  auto comm =
      GlooCommunicator::Create(Options(0, 2, absl::Seconds(30)), &store);
  ASSERT_TRUE(comm.ok()) << comm.status();
  ASSERT_TRUE((*comm)->Barrier().ok());
  peer.join();
  const absl::Time start = absl::Now();
  std::vector<float> data(1000, 1.0f);
  const absl::Status status = (*comm)->AllReduceSum(data.data(), data.size());
  EXPECT_FALSE(status.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "not the 30 s timeout";
}

TEST(GlooOptionsTest, RejectsRanksOutsideTheWorldAndBadTimeouts) {
  EXPECT_TRUE(Options(1, 2, absl::Seconds(1)).Validate().ok());
  EXPECT_FALSE(Options(2, 2, absl::Seconds(1)).Validate().ok());
  EXPECT_FALSE(Options(0, 0, absl::Seconds(1)).Validate().ok());
  EXPECT_FALSE(Options(0, 2, absl::ZeroDuration()).Validate().ok());
  GlooOptions local = Options(0, 2, absl::Seconds(1));
  local.local_rank = 1;
  EXPECT_FALSE(local.Validate().ok()) << "local rank above the rank";
}

}  // namespace
}  // namespace pgan::comm

namespace pgan::worker {
namespace {

TEST(JobProtoTest, UnsetFieldsKeepTheDefaultsOfPganTrain) {
  pgan::v1::JobSpec spec;
  spec.mutable_training()->mutable_model()->set_cfg("fastgan_lite");
  spec.mutable_training()->mutable_model()->set_resolution(32);
  spec.mutable_training()->set_batch(8);
  spec.mutable_training()->set_kimg(2);
  const JobSpec job = JobSpecFromProto(spec).value();
  const config::TrainingConfig defaults;
  EXPECT_EQ(job.training.model.cfg, "fastgan_lite");
  EXPECT_EQ(job.training.model.resolution, 32);
  EXPECT_EQ(job.training.model.ngf, defaults.model.ngf);
  EXPECT_EQ(job.training.model.expand, defaults.model.expand);
  EXPECT_EQ(job.training.model.proj_type, defaults.model.proj_type);
  EXPECT_EQ(job.training.tick, defaults.tick);
  EXPECT_EQ(job.training.snap, defaults.snap);
  EXPECT_EQ(job.training.glr, defaults.glr);
  EXPECT_EQ(job.training.d_lazy_quirk, defaults.d_lazy_quirk);
  EXPECT_EQ(job.training.batch, 8);
  EXPECT_EQ(job.training.kimg, 2);
}

TEST(JobProtoTest, SetFieldsIncludingZeroAndFalseOptionalsAreTaken) {
  pgan::v1::JobSpec spec;
  pgan::v1::TrainingOptions& t = *spec.mutable_training();
  t.mutable_model()->set_cfg("fastgan");
  t.mutable_model()->set_resolution(64);
  t.mutable_model()->set_ngf(16);
  t.mutable_model()->set_expand(false);
  t.mutable_model()->set_proj_type(0);
  t.set_data("/data/x.zip");
  t.set_mirror(true);
  t.set_batch(16);
  t.set_batch_gpu(4);
  t.set_tick(0.5);
  t.set_snap(3);
  t.set_glr(0.002);
  t.set_d_lazy_quirk(false);
  t.set_ema_kimg(0);
  t.set_seed(7);
  t.set_grid_width(8);
  t.set_grid_height(4);
  const JobSpec job = JobSpecFromProto(spec).value();
  EXPECT_EQ(job.training.model.ngf, 16);
  EXPECT_FALSE(job.training.model.expand);
  EXPECT_EQ(job.training.model.proj_type, 0);
  EXPECT_EQ(job.training.data, "/data/x.zip");
  EXPECT_TRUE(job.training.mirror);
  EXPECT_EQ(job.training.batch_gpu, 4);
  EXPECT_EQ(job.training.tick, 0.5);
  EXPECT_EQ(job.training.snap, 3);
  EXPECT_EQ(job.training.glr, 0.002);
  EXPECT_FALSE(job.training.d_lazy_quirk);
  EXPECT_EQ(job.training.ema_kimg, 0);
  EXPECT_EQ(job.training.seed, 7u);
  EXPECT_EQ(job.training.grid_width, 8);
  EXPECT_EQ(job.training.grid_height, 4);
}

}  // namespace
}  // namespace pgan::worker
