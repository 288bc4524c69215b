#include "worker/transfer_watchdog.h"

#include <utility>

namespace pgan::comm {

TransferWatchdog::TransferWatchdog(
    absl::Duration period, std::function<void(const std::string&)> expire)
    : period_(period), expire_(std::move(expire)), thread_([this] { Run(); }) {}

TransferWatchdog::~TransferWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void TransferWatchdog::Arm(absl::Duration timeout,
                           std::function<std::string()> what) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    what_ = std::move(what);
  }
  deadline_ns_.store(absl::ToUnixNanos(absl::Now() + timeout),
                     std::memory_order_release);
}

void TransferWatchdog::Disarm() {
  deadline_ns_.store(0, std::memory_order_release);
}

void TransferWatchdog::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, absl::ToChronoNanoseconds(period_));
    if (stopping_) break;
    const int64_t deadline = deadline_ns_.load(std::memory_order_acquire);
    if (deadline == 0 || absl::ToUnixNanos(absl::Now()) < deadline) continue;
    const std::string what = what_ ? what_() : "a blocking call timed out";
    lock.unlock();
    expire_(what);  // Does not return.
    lock.lock();
  }
}

}  // namespace pgan::comm
