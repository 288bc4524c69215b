#include "services/job_api.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"

namespace pgan::services {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::TimeUtil;

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr size_t kChunkBytes = 1 << 20;

// 64 random bits as "job-<16 hex digits>".
std::string NewJobId() {
  static std::mutex mu;
  static std::mt19937_64 engine{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  return absl::StrFormat("job-%016x", engine());
}

bool Terminal(pgan::v1::JobState state) {
  return state == pgan::v1::JOB_STATE_SUCCEEDED ||
         state == pgan::v1::JOB_STATE_FAILED ||
         state == pgan::v1::JOB_STATE_CANCELLED;
}

absl::Status ValidateId(const std::string& field, const std::string& id) {
  if (id.empty() || id.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": expected a job id"));
  }
  return absl::OkStatus();
}

// The kimg of a sample grid the trainer writes: fakes_init.png is 0,
// fakesNNNNNN.png (6 or more digits) NNNNNN; nullopt for other names.
std::optional<int64_t> SampleGridKimg(const std::string& name) {
  if (name == "fakes_init.png") return 0;
  absl::string_view digits(name);
  int64_t kimg = 0;
  if (!absl::ConsumePrefix(&digits, "fakes") ||
      !absl::ConsumeSuffix(&digits, ".png") || digits.size() < 6 ||
      !std::all_of(digits.begin(), digits.end(),
                   [](char c) { return std::isdigit(c) != 0; }) ||
      !absl::SimpleAtoi(digits, &kimg)) {
    return std::nullopt;
  }
  return kimg;
}

}  // namespace

JobApi::JobApi(StateStore* store, PathRoots roots, Scheduler* scheduler)
    : store_(store), roots_(std::move(roots)), scheduler_(scheduler) {}

absl::StatusOr<pgan::v1::Job> JobApi::VisibleJob(const Principal& caller,
                                                 const std::string& field,
                                                 const std::string& id) {
  RETURN_IF_ERROR(ValidateId(field, id));
  absl::StatusOr<StoredJob> stored = store_->GetJob(id);
  if (absl::IsNotFound(stored.status()) ||
      (stored.ok() && !CanSeeJob(caller, stored->job.owner()))) {
    return absl::NotFoundError(absl::StrCat("no job ", id));
  }
  RETURN_IF_ERROR(stored.status());
  return std::move(stored->job);
}

absl::StatusOr<pgan::v1::Job> JobApi::NewJob(
    const Principal& caller, const pgan::v1::JobSpec& spec) const {
  RETURN_IF_ERROR(ValidateJobSpec(spec, roots_));
  pgan::v1::Job job;
  *job.mutable_spec() = spec;
  job.set_owner(caller.name);
  *job.mutable_submitted() = TimeUtil::GetCurrentTime();
  return job;
}

absl::StatusOr<pgan::v1::Job> JobApi::Submit(
    const Principal& caller, const pgan::v1::SubmitJobRequest& request) {
  if (!request.has_spec()) return absl::InvalidArgumentError("spec: required");
  ASSIGN_OR_RETURN(pgan::v1::Job job, NewJob(caller, request.spec()));
  job.set_state(pgan::v1::JOB_STATE_QUEUED);
  job.set_pending_reason("waiting for the scheduler");
  for (int attempt = 0;; ++attempt) {
    job.set_id(NewJobId());
    absl::StatusOr<int64_t> inserted = store_->InsertJob(job);
    if (inserted.ok()) break;
    if (!absl::IsAlreadyExists(inserted.status()) || attempt == 3) {
      return inserted.status();
    }
  }
  RETURN_IF_ERROR(scheduler_->Schedule(absl::Now()));
  absl::StatusOr<StoredJob> now = store_->GetJob(job.id());
  if (now.ok()) job = std::move(now->job);
  return job;
}

absl::StatusOr<pgan::v1::AttachJobResponse> JobApi::Attach(
    const Principal& caller, const pgan::v1::AttachJobRequest& request) {
  if (!request.has_spec()) return absl::InvalidArgumentError("spec: required");
  ASSIGN_OR_RETURN(pgan::v1::Job job, NewJob(caller, request.spec()));
  pgan::v1::AttachJobResponse response;
  for (int attempt = 0;; ++attempt) {
    job.set_id(NewJobId());
    absl::StatusOr<pgan::v1::RegisterWorkerResponse> attached =
        scheduler_->Attach(job, request.host(), absl::Now());
    if (attached.ok()) {
      response.set_worker_id(attached->worker_id());
      response.set_heartbeat_interval_ms(attached->heartbeat_interval_ms());
      break;
    }
    if (!absl::IsAlreadyExists(attached.status()) || attempt == 3) {
      return attached.status();
    }
  }
  ASSIGN_OR_RETURN(StoredJob stored, store_->GetJob(job.id()));
  *response.mutable_job() = std::move(stored.job);
  return response;
}

absl::StatusOr<pgan::v1::Job> JobApi::Get(const Principal& caller,
                                          const pgan::v1::GetJobRequest& r) {
  return VisibleJob(caller, "id", r.id());
}

absl::StatusOr<pgan::v1::ListJobsResponse> JobApi::List(
    const Principal& caller, const pgan::v1::ListJobsRequest& request) {
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: expected 0 to ",
                                                   kMaxPageSize, ", got ",
                                                   request.page_size()));
  }
  JobQuery query;
  query.limit =
      request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  if (caller.role != Principal::Role::kAdmin) query.owner = caller.name;
  for (int state : request.states()) {
    query.states.push_back(static_cast<pgan::v1::JobState>(state));
  }
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &query.after_sequence) ||
       query.after_sequence < 0)) {
    return absl::InvalidArgumentError(
        "page_token: not a token from a previous ListJobsResponse");
  }
  ASSIGN_OR_RETURN(std::vector<StoredJob> jobs, store_->ListJobs(query));
  pgan::v1::ListJobsResponse response;
  for (StoredJob& stored : jobs) *response.add_jobs() = std::move(stored.job);
  if (static_cast<int>(jobs.size()) == query.limit) {
    response.set_next_page_token(absl::StrCat(jobs.back().sequence));
  }
  return response;
}

absl::StatusOr<pgan::v1::Job> JobApi::Cancel(
    const Principal& caller, const pgan::v1::CancelJobRequest& request) {
  ASSIGN_OR_RETURN(pgan::v1::Job job, VisibleJob(caller, "id", request.id()));
  // Under the scheduler's lock, which also stops the gang.
  return scheduler_->Cancel(job.id(), absl::Now());
}

absl::StatusOr<pgan::v1::ListSnapshotsResponse> JobApi::ListSnapshots(
    const Principal& caller, const pgan::v1::ListSnapshotsRequest& request) {
  ASSIGN_OR_RETURN(pgan::v1::Job job,
                   VisibleJob(caller, "job_id", request.job_id()));
  ASSIGN_OR_RETURN(std::vector<pgan::v1::Snapshot> snapshots,
                   store_->Snapshots(job.id()));
  pgan::v1::ListSnapshotsResponse response;
  for (pgan::v1::Snapshot& s : snapshots) {
    *response.add_snapshots() = std::move(s);
  }
  return response;
}

absl::StatusOr<pgan::v1::ListTicksResponse> JobApi::ListTicks(
    const Principal& caller, const pgan::v1::ListTicksRequest& request) {
  ASSIGN_OR_RETURN(pgan::v1::Job job,
                   VisibleJob(caller, "job_id", request.job_id()));
  ASSIGN_OR_RETURN(std::vector<pgan::v1::TickRecord> ticks,
                   store_->Ticks(job.id()));
  pgan::v1::ListTicksResponse response;
  for (pgan::v1::TickRecord& t : ticks) *response.add_ticks() = std::move(t);
  return response;
}

absl::StatusOr<JobApi::JobWatch> JobApi::Watch(
    const Principal& caller, const pgan::v1::WatchJobRequest& request) {
  ASSIGN_OR_RETURN(pgan::v1::Job job, VisibleJob(caller, "id", request.id()));
  return JobWatch(store_, std::move(job));
}

absl::StatusOr<std::optional<pgan::v1::JobEvent>> JobApi::JobWatch::Next() {
  if (ended_) return std::nullopt;
  pgan::v1::JobEvent event;
  if (first_.has_value()) {
    *event.mutable_job() = *std::move(first_);
    first_.reset();
  } else {
    ASSIGN_OR_RETURN(StoredJob now, store_->GetJob(id_));
    const int64_t tick =
        now.job.has_last_tick() ? now.job.last_tick().tick() : -1;
    if (now.job.state() == state_ && tick == tick_) return std::nullopt;
    if (tick != tick_) *event.mutable_tick() = now.job.last_tick();
    *event.mutable_job() = std::move(now.job);
  }
  const pgan::v1::Job& job = event.job();
  id_ = job.id();
  state_ = job.state();
  tick_ = job.has_last_tick() ? job.last_tick().tick() : -1;
  ended_ = Terminal(state_);
  return event;
}

absl::Status JobApi::Download(const Principal& caller,
                              const pgan::v1::DownloadSnapshotRequest& request,
                              const Writer<pgan::v1::DataChunk>& write,
                              const Cancelled& cancelled) {
  absl::StatusOr<pgan::v1::Job> job =
      VisibleJob(caller, "job_id", request.job_id());
  if (!job.ok()) return job.status();
  absl::StatusOr<std::vector<pgan::v1::Snapshot>> snapshots =
      store_->Snapshots(job->id());
  if (!snapshots.ok()) return snapshots.status();
  const pgan::v1::Snapshot* chosen = nullptr;
  const std::string which =
      request.which().empty() ? "latest" : request.which();
  for (const pgan::v1::Snapshot& s : *snapshots) {
    if (which == "best") {
      // The lowest first metric; the earliest of equals.
      if (s.metrics_size() > 0 &&
          (chosen == nullptr ||
           s.metrics(0).value() < chosen->metrics(0).value())) {
        chosen = &s;
      }
    } else if (which == "latest" ||
               absl::StrFormat("%06d", static_cast<int64_t>(s.kimg())) ==
                   which) {
      chosen = &s;  // Sorted by kimg: the last match is the latest.
    }
  }
  if (chosen == nullptr && which == "best") {
    return absl::NotFoundError(absl::StrCat(
        "job ", job->id(),
        " has no evaluated snapshot yet (best needs training.metrics, "
        "measured at snapshots)"));
  }
  if (chosen == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "job ", job->id(), " has no snapshot \"", which.substr(0, 32),
        "\" (which: latest, best or the kimg of a snapshot, e.g. 000200)"));
  }
  // Workers report the paths: serve only files under the output roots.
  absl::StatusOr<std::string> path =
      ConfinePath("snapshot path", chosen->path(), roots_.output);
  if (!path.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("snapshot ", chosen->kimg(), " kimg of job ", job->id(),
                     " lies outside the coordinator's output roots"));
  }
  std::ifstream file(*path, std::ios::binary | std::ios::ate);
  if (!file) {
    return absl::NotFoundError(
        absl::StrCat("the file of snapshot ", chosen->kimg(), " kimg of job ",
                     job->id(), " is gone from the coordinator's storage"));
  }
  const int64_t total = static_cast<int64_t>(file.tellg());
  file.seekg(0);
  std::string buffer(kChunkBytes, '\0');
  int64_t offset = 0;
  while (offset < total && !cancelled()) {
    const int64_t n = std::min<int64_t>(kChunkBytes, total - offset);
    if (!file.read(buffer.data(), n)) {
      return absl::DataLossError(absl::StrCat(
          "reading snapshot ", chosen->kimg(), " kimg of job ", job->id()));
    }
    pgan::v1::DataChunk chunk;
    chunk.set_data(buffer.data(), static_cast<size_t>(n));
    chunk.set_offset(offset);
    chunk.set_total_size(total);
    if (offset == 0) chunk.set_file_name(fs::path(*path).filename().string());
    if (!write(chunk)) break;
    offset += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, JobApi::SampleFile>> JobApi::SampleFiles(
    const pgan::v1::Job& job) {
  ASSIGN_OR_RETURN(std::vector<pgan::v1::Snapshot> snapshots,
                   store_->Snapshots(job.id()));
  // The assigned run dir, the trainer's run dirs in it (it creates
  // NNNNN-<description>/ under its outdir) and the directories of the
  // snapshots workers reported; each resolved under the output roots.
  std::vector<std::string> candidates;
  std::error_code error;
  const std::string run_dir = fs::absolute(scheduler_->RunDir(job), error);
  candidates.push_back(run_dir);
  for (fs::directory_iterator it(run_dir, error), end; !error && it != end;
       it.increment(error)) {
    std::error_code type_error;
    if (it->is_directory(type_error)) candidates.push_back(it->path());
  }
  for (const pgan::v1::Snapshot& s : snapshots) {
    candidates.push_back(fs::path(s.path()).parent_path());
  }
  std::set<std::string> seen;
  std::map<std::string, SampleFile> files;
  std::map<std::string, fs::file_time_type> written;
  for (const std::string& candidate : candidates) {
    absl::StatusOr<std::string> dir =
        ConfinePath("run dir", candidate, roots_.output);
    if (!dir.ok() || !seen.insert(*dir).second) continue;
    for (fs::directory_iterator it(*dir, error), end; !error && it != end;
         it.increment(error)) {
      const std::string name = it->path().filename().string();
      const std::optional<int64_t> kimg = SampleGridKimg(name);
      if (!kimg.has_value()) continue;
      // Entries that resolve outside the roots (links out) are skipped.
      absl::StatusOr<std::string> path =
          ConfinePath("sample grid", it->path().string(), roots_.output);
      std::error_code file_error;
      if (!path.ok() || !fs::is_regular_file(*path, file_error)) continue;
      const fs::file_time_type time = fs::last_write_time(*path, file_error);
      const uintmax_t size = fs::file_size(*path, file_error);
      if (file_error) continue;
      // A name written again (fakes_init.png after a restart): the last.
      auto [at, inserted] = written.emplace(name, time);
      if (!inserted && time <= at->second) continue;
      at->second = time;
      SampleFile& file = files[name];
      file.path = *path;
      file.grid.set_name(name);
      file.grid.set_kimg(static_cast<double>(*kimg));
      file.grid.set_size_bytes(static_cast<int64_t>(size));
      // file_time_type's clock has no fixed epoch in C++17: go through now.
      const auto since_epoch = (time - fs::file_time_type::clock::now() +
                                std::chrono::system_clock::now())
                                   .time_since_epoch();
      *file.grid.mutable_written() = TimeUtil::NanosecondsToTimestamp(
          std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch)
              .count());
    }
  }
  // fakesNNNNNN.png is named by whole kimg, as the reference names it, so a
  // run that snapshots less than a kimg apart writes the same grid again
  // at each snapshot: its kimg is the newest snapshot's of that name.
  for (const pgan::v1::Snapshot& s : snapshots) {
    const auto it = files.find(
        absl::StrFormat("fakes%06d.png", static_cast<int64_t>(s.kimg())));
    if (it != files.end() && s.kimg() > it->second.grid.kimg()) {
      it->second.grid.set_kimg(s.kimg());
    }
  }
  return files;
}

absl::StatusOr<pgan::v1::ListSamplesResponse> JobApi::ListSamples(
    const Principal& caller, const pgan::v1::ListSamplesRequest& request) {
  ASSIGN_OR_RETURN(pgan::v1::Job job,
                   VisibleJob(caller, "job_id", request.job_id()));
  ASSIGN_OR_RETURN(auto files, SampleFiles(job));
  pgan::v1::ListSamplesResponse response;
  for (auto& [name, file] : files) *response.add_grids() = file.grid;
  std::stable_sort(
      response.mutable_grids()->begin(), response.mutable_grids()->end(),
      [](const pgan::v1::SampleGrid& a, const pgan::v1::SampleGrid& b) {
        // At one kimg (fakes_init.png and a first snapshot's
        // grid below 1 kimg), the order they were written.
        if (a.kimg() != b.kimg()) return a.kimg() < b.kimg();
        return a.written() < b.written();
      });
  return response;
}

absl::StatusOr<JobApi::SampleFile> JobApi::FindSample(
    const Principal& caller, const pgan::v1::GetSamplesRequest& request) {
  ASSIGN_OR_RETURN(pgan::v1::Job job,
                   VisibleJob(caller, "job_id", request.job_id()));
  if (!request.name().empty() && !SampleGridKimg(request.name())) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: expected fakes_init.png or fakesNNNNNN.png, got \"",
                     request.name().substr(0, 64), "\""));
  }
  ASSIGN_OR_RETURN(auto files, SampleFiles(job));
  if (!request.name().empty()) {
    const auto found = files.find(request.name());
    if (found == files.end()) {
      return absl::NotFoundError(absl::StrCat(
          "job ", job.id(), " has no sample grid ", request.name()));
    }
    return found->second;
  }
  // The newest: highest kimg, then last written (a fresh restart writes a
  // new fakes_init.png).
  const SampleFile* newest = nullptr;
  for (const auto& [name, file] : files) {
    if (newest == nullptr || file.grid.kimg() > newest->grid.kimg() ||
        (file.grid.kimg() == newest->grid.kimg() &&
         file.grid.written() > newest->grid.written())) {
      newest = &file;
    }
  }
  if (newest == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "job ", job.id(), " has no sample grid yet (its trainer writes ",
        "fakes_init.png when it starts, then one per snapshot)"));
  }
  return *newest;
}

absl::StatusOr<pgan::v1::Samples> JobApi::GetSamples(
    const Principal& caller, const pgan::v1::GetSamplesRequest& request) {
  ASSIGN_OR_RETURN(SampleFile grid, FindSample(caller, request));
  std::ifstream file(grid.path, std::ios::binary | std::ios::ate);
  const std::streamoff size =
      file ? static_cast<std::streamoff>(file.tellg()) : std::streamoff{-1};
  if (size < 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the sample grid of job ", request.job_id(),
                     ": ", grid.path));
  }
  // The png and the message's few other bytes (kimg, a name of at most
  // 20) within the 4 MiB limit.
  if (size > kMaxRequestBytes - 64) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the sample grid of job %s at %d kimg is %.1f MiB, over the 4 MiB "
        "message limit; read it from the run directory: %s",
        request.job_id(), static_cast<int64_t>(grid.grid.kimg()),
        size / 1048576.0, grid.path));
  }
  std::string png(static_cast<size_t>(size), '\0');
  file.seekg(0);
  if (!file.read(png.data(), size)) {
    return absl::DataLossError(absl::StrCat("reading the sample grid of job ",
                                            request.job_id(), ": ", grid.path));
  }
  pgan::v1::Samples response;
  response.set_png(std::move(png));
  response.set_kimg(grid.grid.kimg());
  response.set_name(grid.grid.name());
  return response;
}

absl::StatusOr<pgan::v1::ListJobHistoryResponse> JobApi::ListJobHistory(
    const Principal& caller, const pgan::v1::ListJobHistoryRequest& request) {
  ASSIGN_OR_RETURN(pgan::v1::Job job,
                   VisibleJob(caller, "job_id", request.job_id()));
  ASSIGN_OR_RETURN(std::vector<pgan::v1::JobTransition> history,
                   store_->History(job.id()));
  pgan::v1::ListJobHistoryResponse response;
  for (auto& t : history) *response.add_transitions() = std::move(t);
  return response;
}

absl::StatusOr<pgan::v1::ListWorkersResponse> JobApi::ListWorkers(
    const Principal& caller, const pgan::v1::ListWorkersRequest&) {
  pgan::v1::ListWorkersResponse response;
  std::map<std::string, bool> visible;  // By job id.
  for (pgan::v1::WorkerStatus& w : scheduler_->ListWorkers(absl::Now())) {
    if (!w.job_id().empty() && caller.role != Principal::Role::kAdmin) {
      auto [it, inserted] = visible.emplace(w.job_id(), false);
      if (inserted) {
        absl::StatusOr<StoredJob> stored = store_->GetJob(w.job_id());
        it->second = stored.ok() && CanSeeJob(caller, stored->job.owner());
      }
      if (!it->second) {
        w.clear_job_id();
        w.clear_generation();
      }
    }
    *response.add_workers() = std::move(w);
  }
  return response;
}

}  // namespace pgan::services
