// RunOnRoot's protocol with two ranks as threads over an in-process group
// whose all-gather fails when a rank does not arrive in time (as a real
// collective timeout): work far longer than that timeout succeeds, rank 0's
// failure reaches rank 1 by name, and a rank 0 that stops is caught within
// the timeout.
#include "trainer/root_work.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace pgan::trainer {
namespace {

// Two ranks' gathers, round by round; a rank that waits longer than
// `timeout` for the other fails its gather.
class Exchange {
 public:
  explicit Exchange(absl::Duration timeout) : timeout_(timeout) {}

  absl::StatusOr<std::vector<uint64_t>> Gather(int rank, uint64_t value) {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t round = rounds_[rank]++;
    values_[round][rank] = value;
    arrived_[round] += 1;
    cv_.notify_all();
    if (!cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout_),
                      [&] { return arrived_[round] == 2; })) {
      return absl::DeadlineExceededError(absl::StrCat(
          "rank ", 1 - rank, " did not arrive at gather #", round));
    }
    return std::vector<uint64_t>{values_[round][0], values_[round][1]};
  }
  int64_t rounds(int rank) {
    std::lock_guard<std::mutex> lock(mu_);
    return rounds_[rank];
  }

 private:
  const absl::Duration timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t rounds_[2] = {0, 0};
  std::map<int64_t, std::array<uint64_t, 2>> values_;
  std::map<int64_t, int> arrived_;
};

class ThreadRank final : public ProcessGroup {
 public:
  ThreadRank(Exchange* exchange, int rank) : exchange_(exchange), rank_(rank) {}
  int rank() const override { return rank_; }
  int world_size() const override { return 2; }
  int local_rank() const override { return rank_; }
  absl::Status SumGradients(std::vector<torch::Tensor>&) override {
    return absl::UnimplementedError("not used");
  }
  absl::Status BroadcastFromRoot(std::vector<torch::Tensor>&) override {
    return absl::UnimplementedError("not used");
  }
  absl::Status SumValues(std::vector<double>&) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<std::vector<uint64_t>> GatherValues(uint64_t value) override {
    return exchange_->Gather(rank_, value);
  }

 private:
  Exchange* exchange_;
  const int rank_;
};

constexpr absl::Duration kTimeout = absl::Milliseconds(200);
constexpr absl::Duration kBeat = absl::Milliseconds(20);

// Both ranks call RunOnRoot with `work`; returns their statuses.
std::pair<absl::Status, absl::Status> RunBoth(
    Exchange& exchange, const std::function<absl::Status()>& work) {
  ThreadRank rank0(&exchange, 0), rank1(&exchange, 1);
  absl::Status status1;
  std::thread peer([&] {
    status1 = RunOnRoot(rank1, "writing the snapshot", kBeat,
                        [] { return absl::InternalError("rank 1 ran it"); });
  });
  const absl::Status status0 =
      RunOnRoot(rank0, "writing the snapshot", kBeat, work);
  peer.join();
  return {status0, status1};
}

TEST(RunOnRootTest, WorkTenTimesTheCollectiveTimeoutKeepsTheGroupAlive) {
  Exchange exchange(kTimeout);
  std::atomic<bool> ran{false};
  const auto [status0, status1] = RunBoth(exchange, [&] {
    absl::SleepFor(10 * kTimeout);
    ran = true;
    return absl::OkStatus();
  });
  EXPECT_TRUE(status0.ok()) << status0;
  EXPECT_TRUE(status1.ok()) << status1;
  EXPECT_TRUE(ran.load()) << "rank 0 runs the work, once, to its end";
  EXPECT_GE(exchange.rounds(0), 10) << "about one beat per 20 ms";
  EXPECT_EQ(exchange.rounds(0), exchange.rounds(1));
}

TEST(RunOnRootTest, RankZerosFailureReachesTheOthersByName) {
  Exchange exchange(kTimeout);
  const auto [status0, status1] = RunBoth(exchange, [] {
    absl::SleepFor(absl::Milliseconds(50));
    return absl::ResourceExhaustedError("disk full writing snapshot-000004");
  });
  EXPECT_EQ(status0.code(), absl::StatusCode::kResourceExhausted) << status0;
  EXPECT_EQ(status1.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(status1.message(),
            "rank 0 failed while writing the snapshot (its log says why)");
}

TEST(RunOnRootTest, ARankZeroThatStopsIsCaughtWithinTheTimeout) {
  Exchange exchange(kTimeout);
  ThreadRank rank1(&exchange, 1);
  // Rank 0 never arrives: killed, frozen or cut off.
  const absl::Time start = absl::Now();
  const absl::Status status = RunOnRoot(rank1, "writing the snapshot", kBeat,
                                        [] { return absl::OkStatus(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find("rank 0 did not arrive"), std::string::npos);
  EXPECT_LT(absl::Now() - start, 5 * kTimeout);
}

TEST(RunOnRootTest, OneProcessRunsTheWorkInline) {
  LocalProcessGroup group;
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id ran_on;
  EXPECT_TRUE(RunOnRoot(group, "rendering", kBeat, [&] {
                ran_on = std::this_thread::get_id();
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(ran_on, caller);
}

}  // namespace
}  // namespace pgan::trainer
