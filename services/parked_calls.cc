#include "services/parked_calls.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace pgan::services {

ParkedCalls::ParkedCalls(std::mutex* mu) : mu_(mu) {
  thread_ = std::thread([this] { Run(); });
}

ParkedCalls::~ParkedCalls() {
  {
    std::lock_guard<std::mutex> lock(*mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  AbandonAll();
}

void ParkedCalls::AbandonAll() {
  Calls abandoned;
  {
    std::lock_guard<std::mutex> lock(*mu_);
    abandoned.swap(parked_);
  }
  for (auto& [key, call] : abandoned) {
    call.abandon(absl::UnavailableError(
        "the coordinator is shutting down; retry when it is back"));
  }
}

void ParkedCalls::QueueLocked(Answer answer) {
  ready_.push_back(std::move(answer));
  cv_.notify_all();
}

void ParkedCalls::ParkLocked(const std::string& key, absl::Time deadline,
                             Attempt attempt, Abandon abandon) {
  if (Answer answer = attempt(/*expired=*/absl::Now() >= deadline)) {
    QueueLocked(std::move(answer));
    return;
  }
  parked_.emplace(key, Call{deadline, std::move(attempt), std::move(abandon)});
  cv_.notify_all();  // The earliest deadline may have changed.
}

void ParkedCalls::WakeLocked(const std::string& key) {
  auto [begin, end] = parked_.equal_range(key);
  for (auto it = begin; it != end;) {
    if (Answer answer = it->second.attempt(/*expired=*/false)) {
      QueueLocked(std::move(answer));
      it = parked_.erase(it);
    } else {
      ++it;
    }
  }
}

void ParkedCalls::Run() {
  std::unique_lock<std::mutex> lock(*mu_);
  while (true) {
    // Expire what is due, then deliver every answer outside the lock.
    const absl::Time now = absl::Now();
    absl::Time next = absl::InfiniteFuture();
    for (auto it = parked_.begin(); it != parked_.end();) {
      if (it->second.deadline <= now) {
        ready_.push_back(it->second.attempt(/*expired=*/true));
        it = parked_.erase(it);
      } else {
        next = std::min(next, it->second.deadline);
        ++it;
      }
    }
    if (!ready_.empty()) {
      std::vector<Answer> answers;
      answers.swap(ready_);
      lock.unlock();
      for (Answer& answer : answers) answer();
      lock.lock();
      continue;
    }
    if (stopping_) return;
    if (next == absl::InfiniteFuture()) {
      cv_.wait(lock);
    } else {
      cv_.wait_for(lock, absl::ToChronoNanoseconds(next - now));
    }
  }
}

}  // namespace pgan::services
