#include "worker/reporting.h"

#include <google/protobuf/util/time_util.h>
#include <unistd.h>

#include <filesystem>

#include "absl/time/clock.h"
#include "config/config_proto.h"

namespace pgan::worker {
namespace {

google::protobuf::Timestamp Now() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      absl::ToUnixNanos(absl::Now()));
}

}  // namespace

Reporter::Reporter(CoordinatorClient* client)
    : client_(client), thread_([this] { Loop(); }) {}

Reporter::~Reporter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void Reporter::Add(pgan::v1::ReportTickRequest tick) {
  Push(Item{std::move(tick), std::nullopt});
}

void Reporter::Add(pgan::v1::ReportSnapshotRequest snapshot) {
  Push(Item{std::nullopt, std::move(snapshot)});
}

bool Reporter::Drain(absl::Duration patience) {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, absl::ToChronoNanoseconds(patience),
                           [&] { return queue_.empty(); });
}

void Reporter::Push(Item item) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(item));
  }
  changed_.notify_all();
}

void Reporter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const Item item = queue_.front();
    lock.unlock();
    const absl::Status sent = item.tick
                                  ? client_->ReportTick(*item.tick)
                                  : client_->ReportSnapshot(*item.snapshot);
    lock.lock();
    // Retry what a coordinator that is away or restarting could take later;
    // drop what it refuses for good (a stale or ended gang).
    const bool transient = sent.code() == absl::StatusCode::kUnavailable ||
                           sent.code() == absl::StatusCode::kDeadlineExceeded ||
                           sent.code() == absl::StatusCode::kUnknown ||
                           sent.code() == absl::StatusCode::kInternal ||
                           sent.code() == absl::StatusCode::kResourceExhausted;
    if (sent.ok() || !transient) {
      queue_.pop_front();
      changed_.notify_all();
    } else {
      changed_.wait_for(lock, std::chrono::seconds(1),
                        [&] { return stopping_; });
    }
  }
}

ReportingObserver::ReportingObserver(Reporter* reporter, std::string worker_id,
                                     std::string job_id, int64_t generation,
                                     int progress_fd)
    : reporter_(reporter),
      worker_id_(std::move(worker_id)),
      job_id_(std::move(job_id)),
      generation_(generation),
      progress_fd_(progress_fd) {}

template <typename Request>
void ReportingObserver::Address(Request* request) const {
  request->set_worker_id(worker_id_);
  request->set_job_id(job_id_);
  request->set_generation(generation_);
}

void ReportingObserver::OnTick(const config::TickReport& report) {
  pgan::v1::ReportTickRequest request;
  Address(&request);
  *request.mutable_tick() = config::ToProto(report);
  reporter_->Add(std::move(request));
  iteration_.store(report.iterations);
  cur_nimg_.store(static_cast<int64_t>(report.kimg * 1000 + 0.5));
  if (progress_fd_ >= 0) {
    const int64_t progress[2] = {iteration_.load(), cur_nimg_.load()};
    // The agent reads whole records; a full pipe only skips one.
    [[maybe_unused]] ssize_t n =
        write(progress_fd_, progress, sizeof(progress));
  }
}

void ReportingObserver::OnSnapshot(const std::string& snapshot_path,
                                   const std::string&,
                                   const trainer::TrainProgress& progress) {
  pgan::v1::ReportSnapshotRequest request;
  Address(&request);
  pgan::v1::Snapshot& snapshot = *request.mutable_snapshot();
  snapshot.set_kimg(progress.cur_nimg / 1000.0);
  snapshot.set_path(snapshot_path);
  std::error_code ec;
  const auto size = std::filesystem::file_size(snapshot_path, ec);
  snapshot.set_size_bytes(ec ? 0 : static_cast<int64_t>(size));
  *snapshot.mutable_created() = Now();
  reporter_->Add(std::move(request));
}

}  // namespace pgan::worker
