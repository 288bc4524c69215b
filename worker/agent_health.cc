#include "worker/agent_health.h"

#include "absl/strings/str_cat.h"

namespace pgan::worker {

AgentHealth::AgentHealth(absl::Duration stuck_after)
    : stuck_after_(stuck_after), last_beat_(absl::Now()) {}

void AgentHealth::Beat(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  last_beat_ = now;
}

void AgentHealth::SetReady(bool ready, std::string why) {
  std::lock_guard<std::mutex> lock(mu_);
  ready_ = ready;
  why_ = std::move(why);
}

rpc::HttpResponse AgentHealth::Liveness(absl::Time now) const {
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Duration since = now - last_beat_;
  if (since > stuck_after_) {
    return rpc::HttpUnavailable(absl::StrCat("the agent's loop last turned ",
                                             absl::ToInt64Seconds(since),
                                             " s ago"));
  }
  return rpc::HttpOk();
}

rpc::HttpResponse AgentHealth::Readiness() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_ ? rpc::HttpOk() : rpc::HttpUnavailable(why_);
}

}  // namespace pgan::worker
