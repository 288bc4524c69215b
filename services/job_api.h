// The user-facing operations of the coordinator (pgan.v1.JobService) as
// plain functions over the state store and the scheduler: each takes the
// authenticated caller and a request message and returns a status, with no
// gRPC in sight. Users see and cancel their own jobs only (others' are
// NOT_FOUND, so ids do not leak), admins all; every request is validated.
// JobServiceImpl (job_service.h) is the gRPC adapter; any other front end
// calls these and gets the same rules and messages. Thread-safe.
#ifndef PGAN_SERVICES_JOB_API_H_
#define PGAN_SERVICES_JOB_API_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "pgan/v1/job.pb.h"
#include "services/auth.h"
#include "services/job_spec_validation.h"
#include "services/scheduler.h"
#include "services/state_store.h"

namespace pgan::services {

// Messages larger than this are refused with RESOURCE_EXHAUSTED.
inline constexpr int kMaxRequestBytes = 4 << 20;

class JobApi {
 public:
  // Streams: each message to `write` (false: the client left), `cancelled`
  // polled between messages.
  template <typename Message>
  using Writer = std::function<bool(const Message&)>;
  using Cancelled = std::function<bool()>;

  // Not owned; must outlive the API.
  JobApi(StateStore* store, PathRoots roots, Scheduler* scheduler);

  absl::StatusOr<pgan::v1::Job> Submit(const Principal& caller,
                                       const pgan::v1::SubmitJobRequest& r);
  absl::StatusOr<pgan::v1::AttachJobResponse> Attach(
      const Principal& caller, const pgan::v1::AttachJobRequest& r);
  absl::StatusOr<pgan::v1::Job> Get(const Principal& caller,
                                    const pgan::v1::GetJobRequest& r);
  absl::StatusOr<pgan::v1::ListJobsResponse> List(
      const Principal& caller, const pgan::v1::ListJobsRequest& r);
  absl::StatusOr<pgan::v1::Job> Cancel(const Principal& caller,
                                       const pgan::v1::CancelJobRequest& r);
  absl::StatusOr<pgan::v1::ListSnapshotsResponse> ListSnapshots(
      const Principal& caller, const pgan::v1::ListSnapshotsRequest& r);
  absl::StatusOr<pgan::v1::ListTicksResponse> ListTicks(
      const Principal& caller, const pgan::v1::ListTicksRequest& r);
  // A watch of one job: its events are the job as it is, then every change
  // of its state or new tick, until it has ended. Not thread-safe; poll it
  // from one caller at a time (twice a second: kWatchPoll).
  class JobWatch {
   public:
    // The next event, or nullopt while nothing has changed.
    absl::StatusOr<std::optional<pgan::v1::JobEvent>> Next();
    // The last event was of an ended job: there are no more.
    bool ended() const { return ended_; }

   private:
    friend class JobApi;
    JobWatch(StateStore* store, pgan::v1::Job job)
        : store_(store), first_(std::move(job)) {}
    StateStore* store_;
    std::optional<pgan::v1::Job> first_;  // Until the first Next().
    std::string id_;
    pgan::v1::JobState state_ = pgan::v1::JOB_STATE_UNSPECIFIED;
    int64_t tick_ = -1;
    bool ended_ = false;
  };
  static constexpr absl::Duration kWatchPoll = absl::Milliseconds(500);
  absl::StatusOr<JobWatch> Watch(const Principal& caller,
                                 const pgan::v1::WatchJobRequest& r);
  // A recorded snapshot's file in 1 MiB chunks.
  absl::Status Download(const Principal& caller,
                        const pgan::v1::DownloadSnapshotRequest& r,
                        const Writer<pgan::v1::DataChunk>& write,
                        const Cancelled& cancelled);
  // The sample grids (fakes_init.png, fakesNNNNNN.png) of the job's run
  // directories (its assigned run dir, the trainer's run dirs inside it, and
  // the directories of its recorded snapshots), only from under the output
  // roots; by kimg.
  absl::StatusOr<pgan::v1::ListSamplesResponse> ListSamples(
      const Principal& caller, const pgan::v1::ListSamplesRequest& r);
  // One of them (by name; the newest when none is named) within the 4 MiB
  // message limit.
  absl::StatusOr<pgan::v1::Samples> GetSamples(
      const Principal& caller, const pgan::v1::GetSamplesRequest& r);
  // The file of that grid, for front ends that send it on as it is.
  struct SampleFile {
    std::string path;  // Resolved, under an output root.
    pgan::v1::SampleGrid grid;
  };
  absl::StatusOr<SampleFile> FindSample(const Principal& caller,
                                        const pgan::v1::GetSamplesRequest& r);
  // The job's state changes with their reasons (restarts and why).
  absl::StatusOr<pgan::v1::ListJobHistoryResponse> ListJobHistory(
      const Principal& caller, const pgan::v1::ListJobHistoryRequest& r);
  // The pool; the jobs of workers the caller may not see are blanked.
  absl::StatusOr<pgan::v1::ListWorkersResponse> ListWorkers(
      const Principal& caller, const pgan::v1::ListWorkersRequest& r);

 private:
  // A job of `caller` from a validated `spec`, with its submission time; no
  // id or state yet.
  absl::StatusOr<pgan::v1::Job> NewJob(const Principal& caller,
                                       const pgan::v1::JobSpec& spec) const;
  // The job `id` (request field `field`) if `caller` may see it, else
  // NOT_FOUND.
  absl::StatusOr<pgan::v1::Job> VisibleJob(const Principal& caller,
                                           const std::string& field,
                                           const std::string& id);

  // The job's sample grids by name, found as ListSamples says.
  absl::StatusOr<std::map<std::string, SampleFile>> SampleFiles(
      const pgan::v1::Job& job);

  StateStore* store_;
  const PathRoots roots_;
  Scheduler* scheduler_;
};

}  // namespace pgan::services

#endif  // PGAN_SERVICES_JOB_API_H_
