#include "services/change_feed.h"

#include <google/protobuf/util/json_util.h>

#include <utility>

#include "absl/time/clock.h"

namespace pgan::services {

std::string ToApiJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  // pgan's messages always serialise (no Any, no unknown enum values).
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

const std::string& Change::Json() const {
  std::call_once(json_once_, [this] { json_ = ToApiJson(event); });
  return json_;
}

ChangeFeed::ChangeFeed(size_t capacity)
    : capacity_(capacity < 1 ? 1 : capacity) {}

void ChangeFeed::Publish(const std::string& owner, const std::string& job_id,
                         pgan::v1::JobEvent event) {
  auto change = std::make_shared<Change>();
  change->owner = owner;
  change->job_id = job_id;
  change->event = std::move(event);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    change->sequence = ++last_;
    ring_.push_back(std::move(change));
    if (ring_.size() > capacity_) ring_.pop_front();
  }
  changed_.notify_all();
}

ChangeFeed::Batch ChangeFeed::Wait(int64_t after, absl::Time deadline) const {
  std::unique_lock<std::mutex> lock(mu_);
  const auto ready = [&] { return closed_ || last_ > after; };
  while (!ready()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    changed_.wait_for(
        lock, absl::ToChronoMilliseconds(left) + std::chrono::milliseconds(1));
  }
  Batch batch;
  batch.closed = closed_;
  if (ring_.empty() || last_ <= after) return batch;
  const int64_t oldest = ring_.front()->sequence;
  batch.lost = after + 1 < oldest;
  const size_t first = batch.lost ? 0 : static_cast<size_t>(after + 1 - oldest);
  batch.changes.assign(ring_.begin() + static_cast<std::ptrdiff_t>(first),
                       ring_.end());
  return batch;
}

int64_t ChangeFeed::last_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

void ChangeFeed::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  changed_.notify_all();
}

}  // namespace pgan::services
