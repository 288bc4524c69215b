#include "worker/reporting.h"

#include <google/protobuf/util/time_util.h>

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

ReportSender SendToCoordinator(CoordinatorClient* client) {
  return [client](const TaskReport& report) { return client->Report(report); };
}

ReportSender SendToAgent(int fd) {
  return [fd](const TaskReport& report) { return WriteTaskReport(fd, report); };
}

Reporter::Reporter(ReportSender send)
    : send_(std::move(send)), thread_([this] { Loop(); }) {}

Reporter::~Reporter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void Reporter::Add(TaskReport report) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(report));
  }
  changed_.notify_all();
}

bool Reporter::Drain(absl::Duration patience) {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, absl::ToChronoNanoseconds(patience),
                           [&] { return queue_.empty(); });
}

void Reporter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const TaskReport report = queue_.front();
    lock.unlock();
    const absl::Status sent = send_(report);
    lock.lock();
    if (!ShouldResend(sent)) {
      queue_.pop_front();
      changed_.notify_all();
    } else {
      changed_.wait_for(lock, std::chrono::seconds(1),
                        [&] { return stopping_; });
    }
  }
}

ReportingObserver::ReportingObserver(Reporter* reporter, std::string worker_id,
                                     std::string job_id, int64_t generation)
    : reporter_(reporter),
      worker_id_(std::move(worker_id)),
      job_id_(std::move(job_id)),
      generation_(generation) {}

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
