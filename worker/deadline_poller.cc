#include "worker/deadline_poller.h"

#include <algorithm>
#include <string>
#include <thread>

#include "absl/strings/str_format.h"

namespace pgan::comm {
namespace {

std::chrono::steady_clock::duration ToClock(absl::Duration duration) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(duration));
}

}  // namespace

DeadlinePoller::DeadlinePoller(absl::Duration timeout, absl::Duration spin,
                               absl::Duration max_sleep)
    : start_(Clock::now()),
      deadline_(start_ + ToClock(timeout)),
      spin_(ToClock(spin)),
      max_sleep_(ToClock(max_sleep)) {}

bool DeadlinePoller::Wait() {
  const Clock::time_point now = Clock::now();
  if (now >= deadline_) return false;
  const Clock::duration waited = now - start_;
  if (waited < spin_) {
    return true;
  }
  const Clock::duration min_sleep = std::chrono::microseconds(20);
  Clock::duration sleep = std::clamp<Clock::duration>(
      waited / 8, min_sleep, std::max(min_sleep, max_sleep_));
  sleep = std::min<Clock::duration>(sleep, deadline_ - now);
  std::this_thread::sleep_for(sleep);
  return true;
}

absl::Duration DeadlinePoller::elapsed() const {
  return absl::FromChrono(Clock::now() - start_);
}

std::string FormatSeconds(absl::Duration duration) {
  return absl::StrFormat("%g s", absl::ToDoubleSeconds(duration));
}

}  // namespace pgan::comm
