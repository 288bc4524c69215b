// ParkedCalls: calls answered on a wake, at their deadline or at
// shutdown, each exactly once, outside the owner's lock.
#include "services/parked_calls.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>

#include "absl/time/clock.h"

namespace pgan::services {
namespace {

// An owner with one value under its lock: calls wait until it reaches
// their target.
struct Owner {
  std::mutex mu;
  int value = 0;
  std::unique_ptr<ParkedCalls> parked = std::make_unique<ParkedCalls>(&mu);

  // Answers "reached", "expired" or the abandoning status's message.
  std::future<std::string> WaitFor(int target, absl::Duration wait) {
    auto answer = std::make_shared<std::promise<std::string>>();
    std::future<std::string> answered = answer->get_future();
    std::lock_guard<std::mutex> lock(mu);
    parked->ParkLocked(
        "key", absl::Now() + wait,
        [this, target, answer](bool expired) -> ParkedCalls::Answer {
          if (value >= target) {
            return [this, answer] {
              std::lock_guard<std::mutex> relock(mu);  // Not held here.
              answer->set_value("reached");
            };
          }
          if (!expired) return nullptr;
          return [answer] { answer->set_value("expired"); };
        },
        [answer](const absl::Status& status) {
          answer->set_value(std::string(status.message()));
        });
    return answered;
  }
  void Set(int v) {
    std::lock_guard<std::mutex> lock(mu);
    value = v;
    parked->WakeLocked("key");
  }
};

TEST(ParkedCallsTest, AnsweredWhenWokenWithTheirConditionMet) {
  Owner owner;
  std::future<std::string> two = owner.WaitFor(2, absl::Seconds(30));
  std::future<std::string> three = owner.WaitFor(3, absl::Seconds(30));
  owner.Set(1);
  owner.Set(2);
  EXPECT_EQ(two.get(), "reached");
  {
    std::lock_guard<std::mutex> lock(owner.mu);
    EXPECT_EQ(owner.parked->size_locked(), 1u) << "three waits on";
  }
  owner.Set(3);
  EXPECT_EQ(three.get(), "reached");
}

TEST(ParkedCallsTest, ACallAnswerableAtOnceIsNotParked) {
  Owner owner;
  owner.Set(5);
  EXPECT_EQ(owner.WaitFor(1, absl::Seconds(30)).get(), "reached");
  std::lock_guard<std::mutex> lock(owner.mu);
  EXPECT_EQ(owner.parked->size_locked(), 0u);
}

TEST(ParkedCallsTest, ExpireAtTheirDeadlineInDeadlineOrder) {
  Owner owner;
  const absl::Time start = absl::Now();
  std::future<std::string> late = owner.WaitFor(9, absl::Milliseconds(300));
  std::future<std::string> soon = owner.WaitFor(9, absl::Milliseconds(50));
  EXPECT_EQ(soon.get(), "expired");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(late.wait_for(std::chrono::milliseconds(0)),
            std::future_status::timeout)
      << "the later deadline has not passed";
  EXPECT_EQ(late.get(), "expired");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
}

TEST(ParkedCallsTest, CallsStillWaitingAtShutdownAreToldSo) {
  Owner owner;
  std::future<std::string> waiting = owner.WaitFor(9, absl::Hours(1));
  owner.parked.reset();
  EXPECT_EQ(waiting.get(),
            "the coordinator is shutting down; retry when it is back");
}

}  // namespace
}  // namespace pgan::services
