// JobService over real gRPC on loopback (an in-process coordinator on
// 127.0.0.1, port 0): authentication, validation, ownership, cancel,
// pagination, oversized requests, state that outlives the server, sample
// grids and the worker pool.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/image_io.h"
#include "pgan/v1/job.grpc.pb.h"
#include "pgan/v1/worker.grpc.pb.h"
#include "proto/http_server.h"
#include "services/auth.h"
#include "services/coordinator.h"
#include "tests/common/test_dir.h"

namespace pgan::services {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::TestDir;

class JobServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.file("data"));
    fs::create_directories(dir_.file("out"));
    const std::string tokens = dir_.file("tokens.txt");
    ASSERT_TRUE(WriteFileAtomically(
                    tokens, "alice user " + Sha256Hex("alice-token") + "\n" +
                                "bob user " + Sha256Hex("bob-token") + "\n" +
                                "root admin " + Sha256Hex("root-token") + "\n" +
                                "w worker " + Sha256Hex("worker-token") + "\n")
                    .ok());
    config_.listen = "127.0.0.1:0";
    config_.state_path = dir_.file("state.db");
    config_.tokens_path = tokens;
    config_.roots.data = {dir_.file("data")};
    config_.roots.output = {dir_.file("out")};
    config_.storage_dir = dir_.file("storage");
    StartServer();
  }

  void StartServer() {
    auto coordinator = Coordinator::Start(config_);
    ASSERT_TRUE(coordinator.ok()) << coordinator.status();
    coordinator_ = std::move(*coordinator);
    stub_ = pgan::v1::JobService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(coordinator_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  pgan::v1::JobSpec Spec() const {
    pgan::v1::JobSpec spec;
    spec.set_name("demo");
    spec.mutable_resources()->set_workers(2);
    pgan::v1::TrainingOptions* t = spec.mutable_training();
    t->mutable_model()->set_cfg("fastgan_lite");
    t->mutable_model()->set_resolution(32);
    t->set_data(dir_.file("data") + "/fashion-32.zip");
    t->set_batch(8);
    t->set_kimg(1);
    return spec;
  }

  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!token.empty())
      context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  grpc::Status Submit(const std::string& token, const pgan::v1::JobSpec& spec,
                      pgan::v1::Job* job) {
    pgan::v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    return stub_->SubmitJob(As(token).get(), request, job);
  }

  grpc::Status Get(const std::string& token, const std::string& id,
                   pgan::v1::Job* job) {
    pgan::v1::GetJobRequest request;
    request.set_id(id);
    return stub_->GetJob(As(token).get(), request, job);
  }

  std::unique_ptr<pgan::v1::WorkerService::Stub> WorkerStub() const {
    return pgan::v1::WorkerService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(coordinator_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  // Registers a pool worker through the WorkerService; its id.
  std::string RegisterWorker(const std::string& host, int cpu_slots) {
    pgan::v1::RegisterWorkerRequest request;
    request.mutable_info()->set_host(host);
    request.mutable_info()->set_cpu_slots(cpu_slots);
    request.mutable_info()->set_version("test-1");
    pgan::v1::RegisterWorkerResponse response;
    const grpc::Status status = WorkerStub()->RegisterWorker(
        As("worker-token").get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.worker_id();
  }

  grpc::Status Samples(const std::string& token, const std::string& id,
                       pgan::v1::Samples* samples) {
    pgan::v1::GetSamplesRequest request;
    request.set_job_id(id);
    return stub_->GetSamples(As(token).get(), request, samples);
  }

  grpc::Status Workers(const std::string& token,
                       pgan::v1::ListWorkersResponse* response) {
    return stub_->ListWorkers(As(token).get(), pgan::v1::ListWorkersRequest(),
                              response);
  }

  TestDir dir_;
  CoordinatorConfig config_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<pgan::v1::JobService::Stub> stub_;
};

TEST_F(JobServiceTest, SubmittedJobIsQueuedAndVisibleToItsOwnerOnly) {
  pgan::v1::Job job;
  ASSERT_TRUE(Submit("alice-token", Spec(), &job).ok());
  EXPECT_EQ(job.owner(), "alice");
  EXPECT_EQ(job.state(), pgan::v1::JOB_STATE_QUEUED);
  EXPECT_FALSE(job.pending_reason().empty());
  EXPECT_EQ(job.id().rfind("job-", 0), 0u) << job.id();

  pgan::v1::Job got;
  ASSERT_TRUE(Get("alice-token", job.id(), &got).ok());
  EXPECT_EQ(got.spec().name(), "demo");
  EXPECT_TRUE(Get("root-token", job.id(), &got).ok()) << "admins see every job";
  const grpc::Status bob = Get("bob-token", job.id(), &got);
  EXPECT_EQ(bob.error_code(), grpc::StatusCode::NOT_FOUND)
      << bob.error_message();
  EXPECT_EQ(Get("alice-token", "job-0000000000000000", &got).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(JobServiceTest, CallersMustAuthenticate) {
  pgan::v1::Job job;
  grpc::Status status = Submit("", Spec(), &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("Bearer"), std::string::npos)
      << status.error_message();
  status = Submit("wrong-token", Spec(), &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message().find("wrong-token"), std::string::npos)
      << "the token must not be echoed";
  status = Submit("worker-token", Spec(), &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(JobServiceTest, BadSpecsAreRejectedNamingTheField) {
  pgan::v1::Job job;
  pgan::v1::JobSpec spec = Spec();
  spec.mutable_training()->set_batch(7);
  grpc::Status status = Submit("alice-token", spec, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("training.batch: ", 0), 0u)
      << status.error_message();

  spec = Spec();
  spec.mutable_training()->set_data("/etc/shadow");
  status = Submit("alice-token", spec, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("outside the allowed roots"),
            std::string::npos)
      << status.error_message();

  pgan::v1::SubmitJobRequest empty;
  status = stub_->SubmitJob(As("alice-token").get(), empty, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Over the 4 MiB request limit: refused, and the server keeps serving.
  spec = Spec();
  spec.set_name(std::string(5 << 20, 'x'));
  status = Submit("alice-token", spec, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_TRUE(Submit("alice-token", Spec(), &job).ok());
}

TEST_F(JobServiceTest, CancelListAndPaginate) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    pgan::v1::Job job;
    ASSERT_TRUE(
        Submit(i == 2 ? "bob-token" : "alice-token", Spec(), &job).ok());
    ids.push_back(job.id());
  }
  pgan::v1::CancelJobRequest cancel;
  cancel.set_id(ids[0]);
  pgan::v1::Job cancelled;
  ASSERT_TRUE(
      stub_->CancelJob(As("alice-token").get(), cancel, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), pgan::v1::JOB_STATE_CANCELLED);
  EXPECT_TRUE(cancelled.has_finished());
  EXPECT_EQ(stub_->CancelJob(As("alice-token").get(), cancel, &cancelled)
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  cancel.set_id(ids[2]);  // Bob's.
  EXPECT_EQ(stub_->CancelJob(As("alice-token").get(), cancel, &cancelled)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);

  // Alice's four jobs, two per page, then only the queued ones.
  pgan::v1::ListJobsRequest list;
  list.set_page_size(2);
  std::vector<std::string> seen;
  for (int page = 0; page < 5; ++page) {
    pgan::v1::ListJobsResponse response;
    ASSERT_TRUE(stub_->ListJobs(As("alice-token").get(), list, &response).ok());
    for (const pgan::v1::Job& job : response.jobs()) seen.push_back(job.id());
    if (response.next_page_token().empty()) break;
    list.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{ids[0], ids[1], ids[3], ids[4]}));

  pgan::v1::ListJobsRequest queued;
  queued.add_states(pgan::v1::JOB_STATE_QUEUED);
  pgan::v1::ListJobsResponse response;
  ASSERT_TRUE(stub_->ListJobs(As("root-token").get(), queued, &response).ok());
  EXPECT_EQ(response.jobs_size(), 4);  // Every owner's, less the cancelled.

  list.set_page_token("garbage");
  EXPECT_EQ(
      stub_->ListJobs(As("alice-token").get(), list, &response).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  list.set_page_token("");
  list.set_page_size(100000);
  EXPECT_EQ(
      stub_->ListJobs(As("alice-token").get(), list, &response).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(JobServiceTest, JobsOutliveTheServer) {
  pgan::v1::Job job;
  ASSERT_TRUE(Submit("alice-token", Spec(), &job).ok());
  coordinator_.reset();
  StartServer();
  pgan::v1::Job got;
  ASSERT_TRUE(Get("alice-token", job.id(), &got).ok());
  EXPECT_EQ(got.state(), pgan::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(got.submitted().seconds(), job.submitted().seconds());
}

TEST_F(JobServiceTest, StartupErrorsNameTheFile) {
  CoordinatorConfig config = config_;
  config.tokens_path = dir_.file("missing-tokens.txt");
  auto coordinator = Coordinator::Start(config);
  ASSERT_FALSE(coordinator.ok());
  EXPECT_NE(coordinator.status().message().find("missing-tokens.txt"),
            std::string::npos)
      << coordinator.status();
  config = config_;
  config.roots.data.clear();
  EXPECT_EQ(Coordinator::Start(config).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(JobServiceTest, WatchStreamsTheJobUntilItEnds) {
  pgan::v1::Job job;
  ASSERT_TRUE(Submit("alice-token", Spec(), &job).ok());
  std::vector<pgan::v1::JobState> seen;
  std::thread watcher([&] {
    pgan::v1::WatchJobRequest request;
    request.set_id(job.id());
    auto context = As("alice-token");
    auto reader = stub_->WatchJob(context.get(), request);
    pgan::v1::JobEvent event;
    while (reader->Read(&event)) seen.push_back(event.job().state());
    EXPECT_TRUE(reader->Finish().ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  pgan::v1::CancelJobRequest cancel;
  cancel.set_id(job.id());
  pgan::v1::Job cancelled;
  ASSERT_TRUE(
      stub_->CancelJob(As("alice-token").get(), cancel, &cancelled).ok());
  watcher.join();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], pgan::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(seen[1], pgan::v1::JOB_STATE_CANCELLED);
}

// A worker runs the job and reports a snapshot; its owner downloads it.
TEST_F(JobServiceTest, SnapshotsDownloadInChunksAndOnlyFromTheOutputRoots) {
  auto workers = pgan::v1::WorkerService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(coordinator_->port()),
                          grpc::InsecureChannelCredentials()));
  pgan::v1::RegisterWorkerRequest reg;
  reg.mutable_info()->set_host("localhost");
  reg.mutable_info()->set_cpu_slots(2);
  pgan::v1::RegisterWorkerResponse registered;
  // Users cannot pose as workers.
  EXPECT_EQ(workers->RegisterWorker(As("alice-token").get(), reg, &registered)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(
      workers->RegisterWorker(As("worker-token").get(), reg, &registered).ok());
  pgan::v1::JobSpec spec = Spec();
  spec.mutable_resources()->set_workers(1);
  pgan::v1::Job job;
  ASSERT_TRUE(Submit("alice-token", spec, &job).ok());
  EXPECT_EQ(job.state(), pgan::v1::JOB_STATE_RUNNING);

  const std::string file =
      dir_.file("storage") + "/snapshot-000004.safetensors";
  fs::create_directories(dir_.file("storage"));
  std::string contents((5 << 19) + 123, '\0');  // 2.5 MiB and a bit.
  for (size_t i = 0; i < contents.size(); ++i)
    contents[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(WriteFileAtomically(file, contents).ok());
  for (const std::string& path : {file, std::string("/etc/hostname")}) {
    pgan::v1::ReportSnapshotRequest report;
    report.set_worker_id(registered.worker_id());
    report.set_job_id(job.id());
    report.set_generation(1);
    report.mutable_snapshot()->set_kimg(path == file ? 4 : 8);
    report.mutable_snapshot()->set_path(path);
    pgan::v1::Ack ack;
    ASSERT_TRUE(
        workers->ReportSnapshot(As("worker-token").get(), report, &ack).ok());
  }

  const auto download = [&](const std::string& which, std::string* out,
                            int* chunks) {
    pgan::v1::DownloadSnapshotRequest request;
    request.set_job_id(job.id());
    request.set_which(which);
    auto context = As("alice-token");
    auto reader = stub_->DownloadSnapshot(context.get(), request);
    pgan::v1::DataChunk chunk;
    while (reader->Read(&chunk)) {
      EXPECT_EQ(chunk.offset(), static_cast<int64_t>(out->size()));
      out->append(chunk.data());
      ++*chunks;
    }
    return reader->Finish();
  };
  std::string got;
  int chunks = 0;
  ASSERT_TRUE(download("000004", &got, &chunks).ok());
  EXPECT_EQ(chunks, 3);
  EXPECT_TRUE(got == contents);
  got.clear();
  const grpc::Status outside = download("latest", &got, &chunks);
  EXPECT_EQ(outside.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << outside.error_message();
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(download("000100", &got, &chunks).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// A real PNG: a `width` x 4 RGB image whose pixels depend on `shade`.
std::string Png(int width, int shade) {
  Image image;
  image.width = width;
  image.height = 4;
  image.channels = 3;
  image.pixels.resize(static_cast<size_t>(width) * 4 * 3);
  for (size_t i = 0; i < image.pixels.size(); ++i)
    image.pixels[i] = static_cast<uint8_t>(i * shade);
  absl::StatusOr<std::string> png = EncodePng(image);
  EXPECT_TRUE(png.ok()) << png.status();
  return png.value_or("");
}

// A worker runs the job; the trainer's grids appear in its run directory
// (and next to snapshots the worker reports); the owner gets the newest.
TEST_F(JobServiceTest, SamplesAreTheNewestGridOfTheJobsRunDirectories) {
  const std::string worker = RegisterWorker("localhost", 2);
  pgan::v1::JobSpec spec = Spec();
  spec.mutable_resources()->set_workers(1);
  pgan::v1::Job job;
  ASSERT_TRUE(Submit("alice-token", spec, &job).ok());
  ASSERT_EQ(job.state(), pgan::v1::JOB_STATE_RUNNING);
  pgan::v1::Samples samples;
  grpc::Status status = Samples("alice-token", job.id(), &samples);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("has no sample grid yet"),
            std::string::npos)
      << status.error_message();

  // The trainer's run dir inside the assigned one (storage/<job id>/).
  const std::string run = dir_.file("storage") + "/" + job.id() +
                          "/00000-fastgan_lite-fashion-32-gpus1-batch8";
  fs::create_directories(run);
  const std::string init = Png(8, 3);
  ASSERT_TRUE(WriteFileAtomically(run + "/fakes_init.png", init).ok());
  status = Samples("alice-token", job.id(), &samples);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(samples.kimg(), 0.0);
  EXPECT_TRUE(samples.png() == init);

  const std::string at4 = Png(12, 5);
  ASSERT_TRUE(WriteFileAtomically(run + "/fakes000004.png", at4).ok());
  // Not grids: too few digits, a temporary file, another name.
  for (const char* name : {"/fakes04.png", "/.fakes000009.png.tmp.a1b2c3",
                           "/reals.png", "/fakes000009.png.bak"}) {
    ASSERT_TRUE(WriteFileAtomically(run + name, Png(4, 9)).ok());
  }
  // A link out of the output roots is not served.
  ASSERT_TRUE(WriteFileAtomically(dir_.file("secret.png"), Png(4, 1)).ok());
  fs::create_symlink(dir_.file("secret.png"), run + "/fakes000010.png");
  status = Samples("alice-token", job.id(), &samples);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(samples.kimg(), 4.0);
  ASSERT_TRUE(samples.png() == at4);
  absl::StatusOr<Image> decoded = DecodeImage(samples.png(), "samples");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->width, 12);
  EXPECT_EQ(decoded->height, 4);

  // A snapshot reported from another run dir under an output root: the
  // grid beside it is newer.
  const std::string other = dir_.file("out") + "/moved";
  fs::create_directories(other);
  const std::string at8 = Png(16, 7);
  ASSERT_TRUE(WriteFileAtomically(other + "/fakes000008.png", at8).ok());
  pgan::v1::ReportSnapshotRequest report;
  report.set_worker_id(worker);
  report.set_job_id(job.id());
  report.set_generation(1);
  report.mutable_snapshot()->set_kimg(8);
  report.mutable_snapshot()->set_path(other + "/snapshot-000008.safetensors");
  pgan::v1::Ack ack;
  ASSERT_TRUE(WorkerStub()
                  ->ReportSnapshot(As("worker-token").get(), report, &ack)
                  .ok());
  status = Samples("alice-token", job.id(), &samples);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(samples.kimg(), 8.0);
  EXPECT_TRUE(samples.png() == at8);

  // Owner or admin only; others do not learn that the job exists.
  EXPECT_TRUE(Samples("root-token", job.id(), &samples).ok());
  status = Samples("bob-token", job.id(), &samples);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "no job " + job.id());
  EXPECT_EQ(Samples("worker-token", job.id(), &samples).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Samples("", job.id(), &samples).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Samples("alice-token", "", &samples).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(JobServiceTest, SampleGridsOverTheMessageLimitAreRefusedNamingTheFile) {
  RegisterWorker("localhost", 2);
  pgan::v1::JobSpec spec = Spec();
  spec.mutable_resources()->set_workers(1);
  pgan::v1::Job job;
  ASSERT_TRUE(Submit("alice-token", spec, &job).ok());
  const std::string run = dir_.file("storage") + "/" + job.id();
  fs::create_directories(run);
  // Just within the limit: it reaches a client with gRPC's default 4 MiB.
  const std::string largest(kMaxRequestBytes - 64, 'p');
  ASSERT_TRUE(WriteFileAtomically(run + "/fakes000001.png", largest).ok());
  pgan::v1::Samples samples;
  grpc::Status status = Samples("alice-token", job.id(), &samples);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(samples.png().size(), largest.size());

  ASSERT_TRUE(WriteFileAtomically(run + "/fakes000002.png",
                                  std::string(kMaxRequestBytes + 1, 'p'))
                  .ok());
  status = Samples("alice-token", job.id(), &samples);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_NE(status.error_message().find("over the 4 MiB message limit"),
            std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("fakes000002.png"), std::string::npos)
      << status.error_message();
}

TEST_F(JobServiceTest, ListWorkersShowsThePoolWithoutLeakingOthersJobs) {
  pgan::v1::ListWorkersResponse pool;
  ASSERT_TRUE(Workers("alice-token", &pool).ok());
  EXPECT_EQ(pool.workers_size(), 0);
  const std::string a = RegisterWorker("host-a", 2);
  const std::string b = RegisterWorker("host-b", 4);
  ASSERT_TRUE(Workers("bob-token", &pool).ok());
  ASSERT_EQ(pool.workers_size(), 2);
  for (const pgan::v1::WorkerStatus& w : pool.workers()) {
    EXPECT_TRUE(w.id() == a || w.id() == b) << w.id();
    EXPECT_EQ(w.state(), pgan::v1::WORKER_STATE_IDLE) << w.id();
    EXPECT_EQ(w.host(), w.id() == a ? "host-a" : "host-b");
    EXPECT_EQ(w.cpu_slots(), w.id() == a ? 2 : 4);
    EXPECT_EQ(w.gpus(), 0);
    EXPECT_EQ(w.version(), "test-1");
    EXPECT_TRUE(w.job_id().empty());
    EXPECT_GE(w.seconds_since_heartbeat(), 0.0);
    EXPECT_LT(w.seconds_since_heartbeat(), 30.0);
  }
  EXPECT_LT(pool.workers(0).id(), pool.workers(1).id()) << "sorted by id";

  // Alice's job takes one of the two workers.
  pgan::v1::JobSpec spec = Spec();
  spec.mutable_resources()->set_workers(1);
  pgan::v1::Job job;
  ASSERT_TRUE(Submit("alice-token", spec, &job).ok());
  ASSERT_EQ(job.state(), pgan::v1::JOB_STATE_RUNNING);
  const auto states = [&](const std::string& token) {
    pgan::v1::ListWorkersResponse response;
    EXPECT_TRUE(Workers(token, &response).ok());
    std::map<pgan::v1::WorkerState, std::vector<pgan::v1::WorkerStatus>> by;
    for (const pgan::v1::WorkerStatus& w : response.workers())
      by[w.state()].push_back(w);
    return by;
  };
  for (const char* token : {"alice-token", "root-token"}) {
    auto by = states(token);
    ASSERT_EQ(by[pgan::v1::WORKER_STATE_BUSY].size(), 1u) << token;
    ASSERT_EQ(by[pgan::v1::WORKER_STATE_IDLE].size(), 1u) << token;
    EXPECT_EQ(by[pgan::v1::WORKER_STATE_BUSY][0].job_id(), job.id());
    EXPECT_EQ(by[pgan::v1::WORKER_STATE_BUSY][0].generation(), 1);
    EXPECT_TRUE(by[pgan::v1::WORKER_STATE_IDLE][0].job_id().empty());
  }
  // Bob sees that a worker is busy, not with which job.
  auto by = states("bob-token");
  ASSERT_EQ(by[pgan::v1::WORKER_STATE_BUSY].size(), 1u);
  EXPECT_TRUE(by[pgan::v1::WORKER_STATE_BUSY][0].job_id().empty());
  EXPECT_EQ(by[pgan::v1::WORKER_STATE_BUSY][0].generation(), 0);

  EXPECT_EQ(Workers("worker-token", &pool).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Workers("", &pool).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// GET http://127.0.0.1:port/metrics with a plain socket; the body.
std::string Scrape(int port) {
  auto response = rpc::HttpGet(
      absl::StrCat("http://127.0.0.1:", port, "/metrics"), absl::Seconds(10));
  return response.ok() ? response->body : "";
}

// What Kubernetes probes: /healthz (the clock runs) and /readyz (serving,
// and the state database takes its write lock within a second).
TEST_F(JobServiceTest, HealthEndpointsReportTheStateDatabase) {
  coordinator_.reset();
  // A host name is not an address to listen on: refused, naming the flag.
  config_.metrics_listen = "localhost:0";
  auto refused = Coordinator::Start(config_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("--metrics-listen"),
            std::string::npos)
      << refused.status();
  config_.metrics_listen = "127.0.0.1:0";
  StartServer();
  const auto get = [&](const std::string& path) {
    return rpc::HttpGet(
        absl::StrCat("http://127.0.0.1:", coordinator_->metrics_port(), path),
        absl::Seconds(10));
  };
  auto live = get("/healthz");
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->status, 200);
  auto ready = get("/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 200) << ready->body;
  EXPECT_EQ(get("/nothing")->status, 404);

  // Another process holds the database's write lock.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(config_.state_path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr),
            SQLITE_OK);
  ready = get("/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 503);
  EXPECT_NE(ready->body.find("state database " + config_.state_path),
            std::string::npos)
      << ready->body;
  EXPECT_NE(ready->body.find("locked"), std::string::npos) << ready->body;
  EXPECT_EQ(get("/healthz")->status, 200) << "a locked database is no reason "
                                             "to restart the coordinator";
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_EQ(get("/readyz")->status, 200);

  coordinator_->Shutdown();
  ready = get("/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 503) << ready->body;
}

TEST(HttpGetTest, BadUrlsAndDeadPortsAreErrorsNamingTheUrl) {
  auto malformed = rpc::HttpGet("127.0.0.1:80/healthz", absl::Seconds(1));
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(malformed.status().message().find("127.0.0.1:80/healthz"),
            std::string::npos);
  EXPECT_EQ(
      rpc::HttpGet("http://127.0.0.1:x/", absl::Seconds(1)).status().code(),
      absl::StatusCode::kInvalidArgument);
  // A port nobody listens on: bind one, close it, ask it.
  auto server = rpc::HttpServer::Start("127.0.0.1:0", {});
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  // A port in use cannot be served twice; a malformed address is refused
  // before binding anything.
  auto taken = rpc::HttpServer::Start(absl::StrCat("127.0.0.1:", port), {});
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(taken.status().message().find(absl::StrCat("127.0.0.1:", port)),
            std::string::npos)
      << taken.status();
  for (const char* bad :
       {"999.0.0.1:0", "localhost:80", "127.0.0.1", "127.0.0.1:70000", ":80"}) {
    EXPECT_EQ(rpc::HttpServer::Start(bad, {}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  server->reset();
  auto refused = rpc::HttpGet(absl::StrCat("http://127.0.0.1:", port, "/"),
                              absl::Seconds(2));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable)
      << refused.status();
}

TEST_F(JobServiceTest, MetricsCountJobsWorkersAndCalls) {
  coordinator_.reset();
  config_.metrics_listen = "127.0.0.1:0";
  StartServer();
  ASSERT_GT(coordinator_->metrics_port(), 0);
  pgan::v1::Job job;
  ASSERT_TRUE(Submit("alice-token", Spec(), &job).ok());
  ASSERT_TRUE(Submit("alice-token", Spec(), &job).ok());
  pgan::v1::CancelJobRequest cancel;
  cancel.set_id(job.id());
  ASSERT_TRUE(stub_->CancelJob(As("alice-token").get(), cancel, &job).ok());
  const std::string text = Scrape(coordinator_->metrics_port());
  for (const char* line :
       {"pgan_jobs{state=\"queued\"} 1", "pgan_jobs{state=\"cancelled\"} 1",
        "pgan_jobs{state=\"running\"} 0", "pgan_workers{state=\"idle\"} 0",
        "pgan_rpc_duration_seconds_count{method=\"SubmitJob\"} 2",
        "pgan_rpc_duration_seconds_count{method=\"CancelJob\"} 1",
        "# TYPE pgan_job_restarts_total counter"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

TEST_F(JobServiceTest, MetricsOfTicksReachJobSnapshotsAndPrometheus) {
  coordinator_.reset();
  config_.metrics_listen = "127.0.0.1:0";
  StartServer();
  const std::string worker = RegisterWorker("localhost", 2);
  pgan::v1::JobSpec spec = Spec();
  spec.mutable_resources()->set_workers(1);
  pgan::v1::Job job;
  ASSERT_TRUE(Submit("alice-token", spec, &job).ok());
  ASSERT_EQ(job.state(), pgan::v1::JOB_STATE_RUNNING);
  fs::create_directories(dir_.file("storage"));
  const std::string fd = "fd16_full_efficientnet_lite0";
  // Snapshots at 4 and 8 kimg; the one at 4 is better.
  for (int kimg : {4, 8}) {
    const std::string file =
        dir_.file("storage") +
        absl::StrFormat("/snapshot-%06d.safetensors", kimg);
    ASSERT_TRUE(WriteFileAtomically(file, std::string(kimg, 'a')).ok());
    pgan::v1::ReportSnapshotRequest report;
    report.set_worker_id(worker);
    report.set_job_id(job.id());
    report.set_generation(1);
    report.mutable_snapshot()->set_kimg(kimg);
    report.mutable_snapshot()->set_path(file);
    pgan::v1::Ack ack;
    ASSERT_TRUE(WorkerStub()
                    ->ReportSnapshot(As("worker-token").get(), report, &ack)
                    .ok());
    if (kimg == 4) {
      // Before any metric there is no best snapshot.
      pgan::v1::DownloadSnapshotRequest request;
      request.set_job_id(job.id());
      request.set_which("best");
      auto context = As("alice-token");
      auto reader = stub_->DownloadSnapshot(context.get(), request);
      pgan::v1::DataChunk chunk;
      while (reader->Read(&chunk)) {
      }
      const grpc::Status status = reader->Finish();
      EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
      EXPECT_NE(status.error_message().find("no evaluated snapshot"),
                std::string::npos);
    }
    pgan::v1::ReportTickRequest tick;
    tick.set_worker_id(worker);
    tick.set_job_id(job.id());
    tick.set_generation(1);
    tick.mutable_tick()->set_tick(kimg / 4);
    tick.mutable_tick()->set_kimg(kimg);
    tick.mutable_tick()->set_metrics_kimg(kimg);
    pgan::v1::MetricValue* m = tick.mutable_tick()->add_metrics();
    m->set_metric(fd);
    m->set_value(kimg == 4 ? 10.5 : 20.25);
    ASSERT_TRUE(
        WorkerStub()->ReportTick(As("worker-token").get(), tick, &ack).ok());
  }
  pgan::v1::GetJobRequest get;
  get.set_id(job.id());
  ASSERT_TRUE(stub_->GetJob(As("alice-token").get(), get, &job).ok());
  ASSERT_EQ(job.metrics_size(), 1);
  EXPECT_EQ(job.metrics(0).value(), 20.25);
  EXPECT_EQ(job.metrics_kimg(), 8);
  ASSERT_EQ(job.best_metrics_size(), 1);
  EXPECT_EQ(job.best_metrics(0).value(), 10.5);

  pgan::v1::ListSnapshotsRequest list;
  list.set_job_id(job.id());
  pgan::v1::ListSnapshotsResponse snapshots;
  ASSERT_TRUE(
      stub_->ListSnapshots(As("alice-token").get(), list, &snapshots).ok());
  ASSERT_EQ(snapshots.snapshots_size(), 2);
  EXPECT_EQ(snapshots.snapshots(0).metrics(0).value(), 10.5);

  pgan::v1::DownloadSnapshotRequest request;
  request.set_job_id(job.id());
  request.set_which("best");
  auto context = As("alice-token");
  auto reader = stub_->DownloadSnapshot(context.get(), request);
  pgan::v1::DataChunk chunk;
  std::string got;
  while (reader->Read(&chunk)) got += chunk.data();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(got, std::string(4, 'a'));  // The snapshot at 4 kimg.

  pgan::v1::ListTicksRequest ticks_request;
  ticks_request.set_job_id(job.id());
  pgan::v1::ListTicksResponse ticks;
  ASSERT_TRUE(
      stub_->ListTicks(As("alice-token").get(), ticks_request, &ticks).ok());
  ASSERT_EQ(ticks.ticks_size(), 2);
  EXPECT_EQ(ticks.ticks(1).metrics(0).value(), 20.25);
  EXPECT_EQ(stub_->ListTicks(As("bob-token").get(), ticks_request, &ticks)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);

  const std::string text = Scrape(coordinator_->metrics_port());
  const std::string labels =
      absl::StrCat("{job=\"", job.id(), "\",metric=\"", fd, "\"}");
  for (const std::string& line :
       {absl::StrCat("pgan_job_metric", labels, " 20.25"),
        absl::StrCat("pgan_job_metric_kimg", labels, " 8"),
        absl::StrCat("pgan_job_metric_best", labels, " 10.5"),
        absl::StrCat("pgan_job_eta_seconds{job=\"", job.id(), "\"}")}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

}  // namespace
}  // namespace pgan::services

namespace pgan::services {
namespace {

// Threads of this process (the coordinator under test runs in it).
int Threads() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry :
       fs::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

// Samples Threads() until stopped; the most seen.
class ThreadPeak {
 public:
  ThreadPeak()
      : sampler_([this] {
          while (!stop_) {
            peak_ = std::max(peak_.load(), Threads());
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        }) {}
  int Stop() {
    stop_ = true;
    sampler_.join();
    return peak_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> peak_{0};
  std::thread sampler_;
};

// An async call and what came back.
template <typename Request, typename Response>
struct AsyncCall {
  grpc::ClientContext context;
  Request request;
  Response response;
  grpc::Status status;
};

// Regression (issue 15): the sync server gave every waiting Rendezvous,
// StoreGet and WatchJob a thread of its own, and took as many threads as
// calls came in; at 40,000 simulated workers it failed to create threads
// 47,798 times and stopped answering. Now waiting calls are async (no
// thread each) and the rest share a bounded pool that sheds the excess.
TEST_F(JobServiceTest, WaitingCallsHoldNoThreadAndABurstIsShedNotQueued) {
  coordinator_.reset();
  config_.max_rpc_threads = 8;
  StartServer();
  const std::string a = RegisterWorker("host-a", 1);
  const std::string b = RegisterWorker("host-b", 1);
  pgan::v1::Job job;
  ASSERT_TRUE(Submit("alice-token", Spec(), &job).ok());
  ASSERT_EQ(job.state(), pgan::v1::JOB_STATE_RUNNING);
  auto workers = WorkerStub();
  const int before = Threads();

  // 1,000 StoreGets of a key not yet set and 100 watches of the job wait.
  constexpr int kGets = 1000, kWatches = 100;
  ThreadPeak waiting;
  using Get = AsyncCall<pgan::v1::StoreGetRequest, pgan::v1::StoreGetResponse>;
  std::vector<std::unique_ptr<Get>> gets;
  std::atomic<int> answered{0};
  for (int i = 0; i < kGets; ++i) {
    auto call = std::make_unique<Get>();
    call->context.AddMetadata("authorization", "Bearer worker-token");
    call->request.set_worker_id(i % 2 ? a : b);
    call->request.set_job_id(job.id());
    call->request.set_generation(job.generation());
    call->request.set_key("later");
    call->request.set_wait_ms(60000);
    workers->async()->StoreGet(&call->context, &call->request, &call->response,
                               [c = call.get(), &answered](grpc::Status s) {
                                 c->status = std::move(s);
                                 ++answered;
                               });
    gets.push_back(std::move(call));
  }
  std::vector<std::unique_ptr<grpc::ClientContext>> watch_contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<pgan::v1::JobEvent>>> watches;
  pgan::v1::WatchJobRequest watch;
  watch.set_id(job.id());
  for (int i = 0; i < kWatches; ++i) {
    watch_contexts.push_back(As("alice-token"));
    watches.push_back(stub_->WatchJob(watch_contexts.back().get(), watch));
    pgan::v1::JobEvent first;
    ASSERT_TRUE(watches.back()->Read(&first)) << "watch " << i;
    EXPECT_EQ(first.job().id(), job.id());
  }
  // Meanwhile the rest of the server answers; then a moment for every
  // get to have arrived and parked.
  pgan::v1::HeartbeatRequest beat;
  beat.set_worker_id(a);
  pgan::v1::HeartbeatResponse response;
  ASSERT_TRUE(
      workers->Heartbeat(As("worker-token").get(), beat, &response).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int parked = waiting.Stop();
  EXPECT_EQ(answered.load(), 0) << "nothing set the key yet";
  EXPECT_LT(parked - before, 64)
      << "threads while " << kGets << " StoreGets and " << kWatches
      << " watches wait: " << parked << " (" << before << " before)";

  // Setting the key answers every get.
  pgan::v1::StoreSetRequest set;
  set.set_worker_id(a);
  set.set_job_id(job.id());
  set.set_generation(job.generation());
  set.set_key("later");
  set.set_value("now");
  pgan::v1::Ack ack;
  ASSERT_TRUE(workers->StoreSet(As("worker-token").get(), set, &ack).ok());
  for (int i = 0; i < 1000 && answered < kGets; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(answered.load(), kGets);
  for (const auto& get : gets) {
    ASSERT_TRUE(get->status.ok()) << get->status.error_message();
    EXPECT_EQ(get->response.value(), "now");
  }
  for (auto& context : watch_contexts) context->TryCancel();
  for (auto& reader : watches) {
    pgan::v1::JobEvent event;
    while (reader->Read(&event)) {
    }
    reader->Finish().IgnoreError();
  }

  // A burst of 3,000 heartbeats at once: each is answered or shed with
  // RESOURCE_EXHAUSTED, and the server's threads stay within its bound.
  constexpr int kBurst = 3000;
  using Beat =
      AsyncCall<pgan::v1::HeartbeatRequest, pgan::v1::HeartbeatResponse>;
  std::vector<std::unique_ptr<Beat>> beats;
  std::atomic<int> done{0};
  const int idle = Threads();
  ThreadPeak bursting;
  for (int i = 0; i < kBurst; ++i) {
    auto call = std::make_unique<Beat>();
    call->context.AddMetadata("authorization", "Bearer worker-token");
    call->request.set_worker_id(i % 2 ? a : b);
    call->request.set_job_id(job.id());
    call->request.set_generation(job.generation());
    workers->async()->Heartbeat(&call->context, &call->request, &call->response,
                                [c = call.get(), &done](grpc::Status s) {
                                  c->status = std::move(s);
                                  ++done;
                                });
    beats.push_back(std::move(call));
  }
  for (int i = 0; i < 3000 && done < kBurst; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const int peak = bursting.Stop();
  ASSERT_EQ(done.load(), kBurst);
  int ok = 0, shed = 0;
  for (const auto& beat : beats) {
    if (beat->status.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(beat->status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << beat->status.error_message();
      ++shed;
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_LE(peak - idle, config_.max_rpc_threads + 16)
      << "threads during a burst of " << kBurst << " heartbeats (" << ok
      << " answered, " << shed << " shed)";
  std::printf(
      "burst of %d heartbeats: %d answered, %d shed; threads %d -> "
      "%d\n",
      kBurst, ok, shed, idle, peak);
}

}  // namespace
}  // namespace pgan::services
