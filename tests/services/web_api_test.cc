// The coordinator's HTTP/JSON API on loopback (an in-process coordinator
// with --web-listen 127.0.0.1:0): the same tokens, ownership rules,
// validation messages and statuses as the gRPC JobService, server-sent
// events from the change feed, sample grids, snapshot files, the job's
// history, and the console's files with their security headers.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/file_util.h"
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

constexpr char kSpec[] = R"({
  "name": "demo",
  "resources": {"workers": 1},
  "training": {"model": {"cfg": "fastgan_lite", "resolution": 32},
               "data": "DATA", "batch": 8, "kimg": 1}
})";

std::string Header(const rpc::HttpResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

template <typename Message>
Message Parse(const rpc::HttpResponse& response) {
  Message message;
  EXPECT_TRUE(
      google::protobuf::util::JsonStringToMessage(response.body, &message).ok())
      << response.body;
  return message;
}

nlohmann::json Error(const rpc::HttpResponse& response) {
  EXPECT_EQ(response.content_type, "application/json") << response.body;
  const nlohmann::json json = nlohmann::json::parse(response.body, nullptr,
                                                    /*allow_exceptions=*/false);
  EXPECT_TRUE(json.contains("error")) << response.body;
  return json.value("error", nlohmann::json::object());
}

class WebApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.file("data"));
    fs::create_directories(dir_.file("out"));
    fs::create_directories(dir_.file("web/assets"));
    ASSERT_TRUE(WriteFileAtomically(dir_.file("web/index.html"),
                                    "<!doctype html><title>pgan</title>")
                    .ok());
    ASSERT_TRUE(
        WriteFileAtomically(dir_.file("web/assets/app.js"), "let x = 1;\n")
            .ok());
    const std::string tokens = dir_.file("tokens.txt");
    ASSERT_TRUE(WriteFileAtomically(
                    tokens, "alice user " + Sha256Hex("alice-token") + "\n" +
                                "bob user " + Sha256Hex("bob-token") + "\n" +
                                "root admin " + Sha256Hex("root-token") + "\n" +
                                "w worker " + Sha256Hex("worker-token") + "\n")
                    .ok());
    config_.listen = "127.0.0.1:0";
    config_.web_listen = "127.0.0.1:0";
    config_.web_root = dir_.file("web");
    config_.metrics_listen.clear();
    config_.state_path = dir_.file("state.db");
    config_.tokens_path = tokens;
    config_.roots.data = {dir_.file("data")};
    config_.roots.output = {dir_.file("out")};
    config_.storage_dir = dir_.file("storage");
    auto coordinator = Coordinator::Start(config_);
    ASSERT_TRUE(coordinator.ok()) << coordinator.status();
    coordinator_ = std::move(*coordinator);
    ASSERT_NE(coordinator_->web_port(), 0);
  }

  std::string Url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", coordinator_->web_port(), path);
  }

  rpc::HttpResponse Call(const std::string& method, const std::string& path,
                         const std::string& token, const std::string& body = "",
                         const std::string& type = "application/json") {
    rpc::HttpClientRequest request;
    request.method = method;
    request.url = Url(path);
    if (!token.empty()) {
      request.headers.emplace_back("Authorization", "Bearer " + token);
    }
    if (!body.empty()) request.headers.emplace_back("Content-Type", type);
    request.body = body;
    absl::StatusOr<rpc::HttpResponse> response =
        rpc::HttpFetch(request, absl::Seconds(20));
    EXPECT_TRUE(response.ok()) << response.status();
    return response.value_or(rpc::HttpResponse{});
  }

  std::string SpecJson() const {
    std::string spec = kSpec;
    spec.replace(spec.find("DATA"), 4, dir_.file("data") + "/fashion-32.zip");
    return spec;
  }

  pgan::v1::Job Submit(const std::string& token) {
    const rpc::HttpResponse r = Call("POST", "/api/v1/jobs", token, SpecJson());
    EXPECT_EQ(r.status, 200) << r.body;
    return Parse<pgan::v1::Job>(r);
  }

  std::unique_ptr<pgan::v1::WorkerService::Stub> Workers() const {
    return pgan::v1::WorkerService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(coordinator_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  // A registered pool worker's id.
  std::string RegisterWorker() {
    pgan::v1::RegisterWorkerRequest request;
    request.mutable_info()->set_host("localhost");
    request.mutable_info()->set_cpu_slots(2);
    pgan::v1::RegisterWorkerResponse response;
    EXPECT_TRUE(
        Workers()
            ->RegisterWorker(As("worker-token").get(), request, &response)
            .ok());
    return response.worker_id();
  }

  // `worker` of `job_id`'s first gang reports a snapshot at `kimg`.
  void ReportSnapshot(const std::string& worker, const std::string& job_id,
                      double kimg, const std::string& path) {
    pgan::v1::ReportSnapshotRequest report;
    report.set_worker_id(worker);
    report.set_job_id(job_id);
    report.set_generation(1);
    report.mutable_snapshot()->set_kimg(kimg);
    report.mutable_snapshot()->set_path(path);
    pgan::v1::Ack ack;
    ASSERT_TRUE(
        Workers()->ReportSnapshot(As("worker-token").get(), report, &ack).ok());
  }

  TestDir dir_;
  CoordinatorConfig config_;
  std::unique_ptr<Coordinator> coordinator_;
};

TEST_F(WebApiTest, CallersMustAuthenticateAsTheGrpcApiSays) {
  rpc::HttpResponse r = Call("GET", "/api/v1/jobs", "");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Header(r, "www-authenticate"), "Bearer realm=\"pgan\"");
  EXPECT_EQ(Error(r)["status"], "UNAUTHENTICATED");
  EXPECT_TRUE(
      absl::StrContains(Error(r)["message"].get<std::string>(), "Bearer"));
  r = Call("GET", "/api/v1/jobs", "wrong-token");
  EXPECT_EQ(r.status, 401);
  EXPECT_FALSE(absl::StrContains(r.body, "wrong-token"));
  r = Call("GET", "/api/v1/jobs", "worker-token");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Error(r)["message"], "a worker token cannot use the job API");
  EXPECT_EQ(Call("GET", "/api/v1/jobs", "alice-token").status, 200);
}

TEST_F(WebApiTest, SubmitGetListAndCancelFollowTheOwnershipRules) {
  const pgan::v1::Job job = Submit("alice-token");
  EXPECT_EQ(job.owner(), "alice");
  EXPECT_EQ(job.state(), pgan::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(job.spec().training().batch(), 8);

  // YAML as `pgan submit job.yaml` reads it.
  rpc::HttpResponse r = Call(
      "POST", "/api/v1/jobs", "bob-token",
      absl::StrCat("name: yaml\nresources: {workers: 1}\ntraining:\n  model: "
                   "{cfg: fastgan_lite, resolution: 32}\n  data: ",
                   dir_.file("data"), "/fashion-32.zip\n  batch: 8\n"),
      "application/yaml");
  ASSERT_EQ(r.status, 200) << r.body;
  const pgan::v1::Job bobs = Parse<pgan::v1::Job>(r);
  EXPECT_EQ(bobs.spec().name(), "yaml");

  r = Call("GET", "/api/v1/jobs/" + job.id(), "alice-token");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse<pgan::v1::Job>(r).id(), job.id());
  // The JSON mapping uses the proto field names.
  EXPECT_TRUE(absl::StrContains(r.body, "\"pending_reason\"")) << r.body;
  r = Call("GET", "/api/v1/jobs/" + job.id(), "bob-token");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Error(r)["message"], "no job " + job.id());
  EXPECT_EQ(Call("GET", "/api/v1/jobs/" + job.id(), "root-token").status, 200);

  auto list = Parse<pgan::v1::ListJobsResponse>(
      Call("GET", "/api/v1/jobs", "alice-token"));
  ASSERT_EQ(list.jobs_size(), 1);
  EXPECT_EQ(list.jobs(0).id(), job.id());
  list = Parse<pgan::v1::ListJobsResponse>(
      Call("GET", "/api/v1/jobs", "root-token"));
  EXPECT_EQ(list.jobs_size(), 2);
  list = Parse<pgan::v1::ListJobsResponse>(
      Call("GET", "/api/v1/jobs?page_size=1", "root-token"));
  EXPECT_EQ(list.jobs_size(), 1);
  EXPECT_FALSE(list.next_page_token().empty());
  r = Call("GET", "/api/v1/jobs?state=sleeping", "alice-token");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r)["field"], "state");
  r = Call("GET", "/api/v1/jobs?page_size=5000", "alice-token");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r)["field"], "page_size");

  EXPECT_EQ(
      Call("POST", "/api/v1/jobs/" + job.id() + ":cancel", "bob-token").status,
      404);
  r = Call("POST", "/api/v1/jobs/" + job.id() + ":cancel", "alice-token");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse<pgan::v1::Job>(r).state(), pgan::v1::JOB_STATE_CANCELLED);
  r = Call("POST", "/api/v1/jobs/" + job.id() + ":cancel", "alice-token");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r)["status"], "FAILED_PRECONDITION");
  list = Parse<pgan::v1::ListJobsResponse>(
      Call("GET", "/api/v1/jobs?state=queued,running", "root-token"));
  ASSERT_EQ(list.jobs_size(), 1);
  EXPECT_EQ(list.jobs(0).id(), bobs.id());

  // The history says what happened, with the reasons.
  const auto history = Parse<pgan::v1::ListJobHistoryResponse>(
      Call("GET", "/api/v1/jobs/" + job.id() + "/history", "alice-token"));
  ASSERT_EQ(history.transitions_size(), 2);
  EXPECT_EQ(history.transitions(0).state(), pgan::v1::JOB_STATE_QUEUED);
  EXPECT_FALSE(history.transitions(0).reason().empty());
  EXPECT_EQ(history.transitions(1).state(), pgan::v1::JOB_STATE_CANCELLED);

  EXPECT_EQ(Call("DELETE", "/api/v1/jobs/" + job.id(), "alice-token").status,
            405);
  EXPECT_EQ(Call("GET", "/api/v1/nothing", "alice-token").status, 404);
}

TEST_F(WebApiTest, BadSpecsAreRefusedWithTheGrpcMessageAndTheField) {
  std::string spec = SpecJson();
  // 7 images cannot be split over 2 workers.
  spec.replace(spec.find("\"batch\": 8"), 10, "\"batch\": 7");
  spec.replace(spec.find("\"workers\": 1"), 12, "\"workers\": 2");
  rpc::HttpResponse r = Call("POST", "/api/v1/jobs", "alice-token", spec);
  EXPECT_EQ(r.status, 400);
  nlohmann::json error = Error(r);
  EXPECT_EQ(error["field"], "training.batch");
  EXPECT_EQ(error["status"], "INVALID_ARGUMENT");

  // The same message as over gRPC.
  pgan::v1::SubmitJobRequest request;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(spec, request.mutable_spec())
          .ok());
  auto stub = pgan::v1::JobService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(coordinator_->port()),
                          grpc::InsecureChannelCredentials()));
  pgan::v1::Job job;
  const grpc::Status grpc_status =
      stub->SubmitJob(As("alice-token").get(), request, &job);
  EXPECT_EQ(grpc_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(error["message"], grpc_status.error_message());

  r = Call("POST", "/api/v1/jobs", "alice-token", "{\"trainig\": {}}");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(absl::StrContains(Error(r)["message"].get<std::string>(),
                                "request body: not a JobSpec in JSON"))
      << r.body;
  r = Call("POST", "/api/v1/jobs", "alice-token", "a: [", "text/yaml");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(absl::StrContains(r.body, "not YAML: line 1")) << r.body;

  // Over the 4 MiB request limit, as gRPC refuses it; the server goes on.
  r = Call("POST", "/api/v1/jobs", "alice-token", std::string(5 << 20, ' '));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(Call("GET", "/api/v1/jobs", "alice-token").status, 200);
}

TEST_F(WebApiTest, EventsStreamEveryVisibleChangeWithoutPolling) {
  struct Stream {
    std::string data;
    std::mutex mu;
    std::atomic<bool> stop{false};
    absl::Notification ready;
    std::thread thread;
  };
  const auto open = [&](Stream* s, const std::string& token) {
    s->thread = std::thread([this, s, token] {
      rpc::HttpClientRequest request;
      request.url = Url("/api/v1/events");
      request.headers.emplace_back("Authorization", "Bearer " + token);
      request.on_body = [s](absl::string_view chunk) {
        std::lock_guard<std::mutex> lock(s->mu);
        s->data.append(chunk.data(), chunk.size());
        if (absl::StrContains(s->data, "event: ready") &&
            !s->ready.HasBeenNotified()) {
          s->ready.Notify();
        }
        return !s->stop.load();
      };
      (void)rpc::HttpFetch(request, absl::Seconds(60));
      if (!s->ready.HasBeenNotified()) s->ready.Notify();
    });
    s->ready.WaitForNotification();
  };
  const auto wait_for = [](Stream* s, const std::string& text) {
    for (int i = 0; i < 400; ++i) {
      {
        std::lock_guard<std::mutex> lock(s->mu);
        if (absl::StrContains(s->data, text)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  };
  Stream alice, bob;
  open(&alice, "alice-token");
  open(&bob, "bob-token");
  const pgan::v1::Job job = Submit("alice-token");
  EXPECT_TRUE(wait_for(&alice, "\"id\":\"" + job.id() + "\"")) << alice.data;
  EXPECT_TRUE(wait_for(&alice, "event: job\n"));
  // A tick and a snapshot of the running job arrive as their own events.
  const std::string worker = RegisterWorker();
  ASSERT_TRUE(wait_for(&alice, "JOB_STATE_RUNNING")) << alice.data;
  pgan::v1::ReportTickRequest tick;
  tick.set_worker_id(worker);
  tick.set_job_id(job.id());
  tick.set_generation(1);
  tick.mutable_tick()->set_tick(3);
  tick.mutable_tick()->set_kimg(0.25);
  pgan::v1::Ack ack;
  ASSERT_TRUE(Workers()->ReportTick(As("worker-token").get(), tick, &ack).ok());
  EXPECT_TRUE(wait_for(&alice, "event: tick\n")) << alice.data;
  EXPECT_TRUE(wait_for(&alice, "\"kimg\":0.25")) << alice.data;
  // Bob's stream says nothing of alice's job; bob's own job reaches it.
  const rpc::HttpResponse others =
      Call("GET", "/api/v1/events?job_id=" + job.id(), "bob-token");
  EXPECT_EQ(others.status, 404);
  const pgan::v1::Job bobs = Submit("bob-token");
  EXPECT_TRUE(wait_for(&bob, bobs.id()));
  {
    std::lock_guard<std::mutex> lock(bob.mu);
    EXPECT_FALSE(absl::StrContains(bob.data, job.id())) << bob.data;
  }
  // A stream's client ends it at the next change it sees.
  alice.stop = true;
  bob.stop = true;
  (void)Submit("alice-token");
  (void)Call("POST", "/api/v1/jobs/" + bobs.id() + ":cancel", "bob-token");
  alice.thread.join();
  bob.thread.join();
  // A client that reconnects says where it was (Last-Event-ID) and gets
  // what it missed, in order.
  std::string replay;
  rpc::HttpClientRequest request;
  request.url = Url("/api/v1/events");
  request.headers = {{"Authorization", "Bearer root-token"},
                     {"Last-Event-ID", "0"}};
  request.on_body = [&](absl::string_view chunk) {
    replay.append(chunk.data(), chunk.size());
    return !absl::StrContains(replay, "JOB_STATE_CANCELLED");
  };
  ASSERT_TRUE(rpc::HttpFetch(request, absl::Seconds(20)).ok());
  EXPECT_TRUE(absl::StrContains(replay, "id: 1\nevent: job\n")) << replay;
  EXPECT_TRUE(absl::StrContains(replay, job.id()));
  EXPECT_TRUE(absl::StrContains(replay, bobs.id()));
}

// Each open console holds a server thread: past --web-max-streams a new
// stream is told to come back (503 with Retry-After), and a closed one
// frees its place.
TEST_F(WebApiTest, EventStreamsPastTheLimitAreToldToRetry) {
  coordinator_.reset();
  config_.web_max_streams = 1;
  auto restarted = Coordinator::Start(config_);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  coordinator_ = std::move(*restarted);
  std::atomic<bool> stop{false};
  absl::Notification ready;
  std::thread holder([&] {
    rpc::HttpClientRequest request;
    request.url = Url("/api/v1/events");
    request.headers.emplace_back("Authorization", "Bearer alice-token");
    request.on_body = [&](absl::string_view) {
      if (!ready.HasBeenNotified()) ready.Notify();
      return !stop.load();
    };
    (void)rpc::HttpFetch(request, absl::Seconds(60));
    if (!ready.HasBeenNotified()) ready.Notify();
  });
  ready.WaitForNotification();
  const rpc::HttpResponse busy = Call("GET", "/api/v1/events", "bob-token");
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_TRUE(absl::StrContains(busy.body, "--web-max-streams")) << busy.body;
  EXPECT_TRUE(
      std::any_of(busy.headers.begin(), busy.headers.end(), [](const auto& h) {
        return h.first == "retry-after" && h.second == "5";
      }));
  // The rest of the API still answers while the stream is open.
  EXPECT_EQ(Call("GET", "/api/v1/jobs", "bob-token").status, 200);
  // The holder ends at the next change; once the server has seen it go, a
  // new stream is accepted.
  stop = true;
  (void)Submit("alice-token");
  holder.join();
  int status = 0;
  for (int i = 0; i < 200 && status != 200; ++i) {
    rpc::HttpClientRequest request;
    request.url = Url("/api/v1/events");
    request.headers.emplace_back("Authorization", "Bearer bob-token");
    request.on_body = [](absl::string_view) { return false; };
    absl::StatusOr<rpc::HttpResponse> r =
        rpc::HttpFetch(request, absl::Seconds(20));
    status = r.ok() ? r->status : -1;
    // The server finds a client gone when a write to it fails: a change
    // makes it write.
    if (status != 200) (void)Submit("alice-token");
  }
  EXPECT_EQ(status, 200);
}

TEST_F(WebApiTest, SampleGridsAndSnapshotsComeOnlyFromTheJobsOwnFiles) {
  const std::string worker = RegisterWorker();
  const pgan::v1::Job job = Submit("alice-token");
  ASSERT_EQ(job.state(), pgan::v1::JOB_STATE_RUNNING);
  const std::string run = dir_.file("storage") + "/" + job.id() + "/00000-run";
  fs::create_directories(run);
  ASSERT_TRUE(WriteFileAtomically(run + "/fakes_init.png", "init-png").ok());
  ASSERT_TRUE(WriteFileAtomically(run + "/fakes000004.png", "png-4").ok());
  ASSERT_TRUE(WriteFileAtomically(dir_.file("secret.png"), "secret").ok());
  fs::create_symlink(dir_.file("secret.png"), run + "/fakes000008.png");

  rpc::HttpResponse r =
      Call("GET", "/api/v1/jobs/" + job.id() + "/samples", "alice-token");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto grids = Parse<pgan::v1::ListSamplesResponse>(r);
  ASSERT_EQ(grids.grids_size(), 2) << r.body;
  EXPECT_EQ(grids.grids(0).name(), "fakes_init.png");
  EXPECT_EQ(grids.grids(1).name(), "fakes000004.png");
  EXPECT_EQ(grids.grids(1).kimg(), 4);
  EXPECT_EQ(grids.grids(1).size_bytes(), 5);

  r = Call("GET", "/api/v1/jobs/" + job.id() + "/samples/fakes000004.png",
           "alice-token");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "image/png");
  EXPECT_EQ(r.body, "png-4");
  EXPECT_EQ(Call("GET", "/api/v1/jobs/" + job.id() + "/samples/fakes000004.png",
                 "bob-token")
                .status,
            404);
  EXPECT_EQ(Call("GET", "/api/v1/jobs/" + job.id() + "/samples/fakes000008.png",
                 "alice-token")
                .status,
            404)
      << "a link out of the output roots";
  for (const std::string name : {"..%2F..%2Fsecret.png", "reals.png"}) {
    r = Call("GET", "/api/v1/jobs/" + job.id() + "/samples/" + name,
             "alice-token");
    EXPECT_NE(r.status, 200) << name;
    EXPECT_NE(r.body, "secret") << name;
  }
  r = Call("GET", "/api/v1/jobs/" + job.id() + "/samples/reals.png",
           "alice-token");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r)["field"], "name");

  // A snapshot downloads as its file; one outside the roots does not.
  std::string contents((3 << 19) + 17, '\0');
  for (size_t i = 0; i < contents.size(); ++i)
    contents[i] = static_cast<char>(i * 13);
  const std::string file = run + "/network-snapshot-000004.safetensors";
  ASSERT_TRUE(WriteFileAtomically(file, contents).ok());
  ReportSnapshot(worker, job.id(), 4, file);
  ReportSnapshot(worker, job.id(), 8, "/etc/hostname");
  const auto snapshots = Parse<pgan::v1::ListSnapshotsResponse>(
      Call("GET", "/api/v1/jobs/" + job.id() + "/snapshots", "alice-token"));
  EXPECT_EQ(snapshots.snapshots_size(), 2);
  r = Call("GET", "/api/v1/jobs/" + job.id() + "/snapshots/000004/file",
           "alice-token");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/octet-stream");
  EXPECT_EQ(Header(r, "content-disposition"),
            "attachment; filename=\"network-snapshot-000004.safetensors\"");
  EXPECT_TRUE(r.body == contents);
  r = Call("GET", "/api/v1/jobs/" + job.id() + "/snapshots/latest/file",
           "alice-token");
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("outside the coordinator's output roots"),
            std::string::npos);
  EXPECT_EQ(Call("GET", "/api/v1/jobs/" + job.id() + "/snapshots/000004/file",
                 "bob-token")
                .status,
            404);

  // Snapshots less than a kimg apart write fakes000004.png again: the grid
  // is at the newest snapshot's kimg of its name.
  ReportSnapshot(worker, job.id(), 4.625, file);
  const auto regrids = Parse<pgan::v1::ListSamplesResponse>(
      Call("GET", "/api/v1/jobs/" + job.id() + "/samples", "alice-token"));
  ASSERT_EQ(regrids.grids_size(), 2);
  EXPECT_EQ(regrids.grids(1).name(), "fakes000004.png");
  EXPECT_EQ(regrids.grids(1).kimg(), 4.625);
}

TEST_F(WebApiTest, TheConsoleIsServedWithAStrictContentSecurityPolicy) {
  rpc::HttpResponse r = Call("GET", "/", "");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body, "<!doctype html><title>pgan</title>");
  const std::string csp = Header(r, "content-security-policy");
  EXPECT_TRUE(absl::StrContains(csp, "script-src 'self'")) << csp;
  EXPECT_FALSE(absl::StrContains(csp, "unsafe-inline")) << csp;
  EXPECT_TRUE(absl::StrContains(csp, "frame-ancestors 'none'")) << csp;
  EXPECT_EQ(Header(r, "x-content-type-options"), "nosniff");
  r = Call("GET", "/assets/app.js", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
  const std::string etag = Header(r, "etag");
  ASSERT_FALSE(etag.empty());
  rpc::HttpClientRequest again;
  again.url = Url("/assets/app.js");
  again.headers.emplace_back("If-None-Match", etag);
  absl::StatusOr<rpc::HttpResponse> cached =
      rpc::HttpFetch(again, absl::Seconds(10));
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->status, 304);
  EXPECT_TRUE(cached->body.empty());
  EXPECT_EQ(Call("GET", "/../tokens.txt", "").status, 404);
  EXPECT_EQ(Call("GET", "/tokens.txt", "").status, 404);
  EXPECT_EQ(Call("POST", "/", "", "x").status, 405);
  // API answers carry the policy too.
  EXPECT_FALSE(
      Header(Call("GET", "/api/v1/jobs", ""), "content-security-policy")
          .empty());
}

TEST_F(WebApiTest, AWebRootWithoutAConsoleIsRefusedAtStart) {
  CoordinatorConfig config = config_;
  config.state_path = dir_.file("other.db");
  config.web_root = dir_.file("data");
  auto started = Coordinator::Start(config);
  ASSERT_FALSE(started.ok());
  EXPECT_TRUE(absl::StrContains(started.status().message(), "--web-root"))
      << started.status();
  EXPECT_TRUE(absl::StrContains(started.status().message(), "index.html"));
}

}  // namespace
}  // namespace pgan::services
