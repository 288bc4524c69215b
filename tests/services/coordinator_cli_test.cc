// The real processes: pgan-coordinator on 127.0.0.1 (port 0, read back from
// --port-file) and the `pgan` client commands against it; the coordinator
// killed with SIGKILL and started again on the same state loses nothing.
// Pool workers are simulated over the WorkerService.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/image_io.h"
#include "pgan/v1/worker.grpc.pb.h"
#include "services/auth.h"
#include "tests/common/subprocess.h"
#include "tests/common/test_dir.h"

namespace pgan::services {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::RunCommand;
using ::pgan::testing::TestDir;

class CoordinatorCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.file("data"));
    ASSERT_TRUE(WriteFileAtomically(dir_.file("tokens.txt"),
                                    "alice user " + Sha256Hex("alice-token") +
                                        "\n" + "w worker " +
                                        Sha256Hex("worker-token") + "\n")
                    .ok());
    StartCoordinator();
  }
  void TearDown() override { KillCoordinator(); }

  void StartCoordinator() {
    const std::string port_file = dir_.file("port");
    fs::remove(port_file);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      const std::string log = dir_.file("coordinator.log");
      freopen(log.c_str(), "a", stdout);
      freopen(log.c_str(), "a", stderr);
      const std::string state = dir_.file("state.db"),
                        tokens = dir_.file("tokens.txt"),
                        data = dir_.file("data"),
                        storage = dir_.file("storage");
      ::execl(PGAN_COORDINATOR, PGAN_COORDINATOR, "--listen", "127.0.0.1:0",
              "--port-file", port_file.c_str(), "--state", state.c_str(),
              "--tokens", tokens.c_str(), "--data-root", data.c_str(),
              "--storage", storage.c_str(), "--metrics-listen", "127.0.0.1:0",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto text = ReadFile(port_file);
      int port = 0;
      if (text.ok() &&
          absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &port))
        port_ = port;
    }
    ASSERT_GT(port_, 0) << "pgan-coordinator did not start: "
                        << ReadFile(dir_.file("coordinator.log")).value_or("");
  }

  void KillCoordinator() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    port_ = 0;
  }

  // `pgan ARGS` as alice against the running coordinator.
  testing::CommandResult Pgan(const std::string& args,
                              const std::string& token = "alice-token") {
    return RunCommand(absl::StrCat("PGAN_TOKEN=", token,
                                   " PGAN_COORDINATOR=127.0.0.1:", port_, " ",
                                   PGAN_BINARY, " ", args));
  }

  std::string WriteJob(const std::string& json) {
    const std::string path = dir_.file("job.json");
    EXPECT_TRUE(WriteFileAtomically(path, json).ok());
    return path;
  }

  TestDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

TEST_F(CoordinatorCliTest, SubmitListCancelAcrossACoordinatorKill) {
  const std::string job = WriteJob(absl::StrCat(
      R"({"name": "demo", "resources": {"workers": 2}, "training": {"model": )",
      R"({"cfg": "fastgan_lite", "resolution": 32}, "data": ")",
      dir_.file("data"), R"(/fashion.zip", "batch": 8, "kimg": 1}})"));
  auto submitted = Pgan("submit " + job);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  ASSERT_EQ(submitted.output.rfind("submitted job-", 0), 0u)
      << submitted.output;
  const std::string id = submitted.output.substr(10, 20);
  EXPECT_NE(submitted.output.find("(queued"), std::string::npos)
      << submitted.output;

  auto jobs = Pgan("jobs");
  EXPECT_EQ(jobs.exit_code, 0) << jobs.output;
  EXPECT_NE(jobs.output.find(id), std::string::npos) << jobs.output;
  EXPECT_NE(jobs.output.find("queued"), std::string::npos) << jobs.output;

  // SIGKILL, start again on the same state: the job is still there.
  KillCoordinator();
  auto down = Pgan("status " + id);
  EXPECT_NE(down.exit_code, 0);
  EXPECT_NE(down.output.find("cannot reach the coordinator"), std::string::npos)
      << down.output;
  StartCoordinator();
  auto status = Pgan("status " + id);
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("state      queued"), std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("fastgan_lite 32px, batch 8"), std::string::npos)
      << status.output;

  // `pgan watch` follows the job until it ends; cancelling ends it.
  testing::CommandResult watched;
  std::thread watcher([&] { watched = Pgan("watch " + id); });
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto cancelled = Pgan("cancel " + id);
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.output;
  EXPECT_EQ(cancelled.output, id + " cancelled\n");
  watcher.join();
  EXPECT_EQ(watched.exit_code, 1) << watched.output;
  EXPECT_NE(watched.output.find(id + " queued"), std::string::npos)
      << watched.output;
  EXPECT_NE(watched.output.find(id + " cancelled"), std::string::npos)
      << watched.output;
  EXPECT_NE(watched.output.find("was cancelled"), std::string::npos)
      << watched.output;

  auto download =
      Pgan("download " + id + " -o " + dir_.file("net.safetensors"));
  EXPECT_EQ(download.exit_code, 2) << download.output;
  EXPECT_NE(download.output.find("has no snapshot"), std::string::npos)
      << download.output;
  EXPECT_FALSE(fs::exists(dir_.file("net.safetensors")))
      << "nothing half-written";
  EXPECT_EQ(Pgan("jobs").output.find(id), std::string::npos)
      << "finished jobs need --all";
  EXPECT_NE(Pgan("jobs --all").output.find(id), std::string::npos);
}

TEST_F(CoordinatorCliTest, WorkersTableAndSampleGrid) {
  auto empty = Pgan("workers");
  ASSERT_EQ(empty.exit_code, 0) << empty.output;
  EXPECT_EQ(empty.output.rfind("ID ", 0), 0u) << empty.output;
  for (const char* column :
       {"HOST", "GPUS", "CPUS", "STATE", "JOB", "GEN", "LAST-SEEN"}) {
    EXPECT_NE(empty.output.find(column), std::string::npos) << column;
  }
  EXPECT_EQ(std::count(empty.output.begin(), empty.output.end(), '\n'), 1)
      << "the header only: " << empty.output;

  // A pool worker registers; alice's one-worker job takes it.
  auto workers = pgan::v1::WorkerService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  pgan::v1::RegisterWorkerRequest reg;
  reg.mutable_info()->set_host("cli-host");
  reg.mutable_info()->set_cpu_slots(3);
  pgan::v1::RegisterWorkerResponse registered;
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer worker-token");
  ASSERT_TRUE(workers->RegisterWorker(&context, reg, &registered).ok());
  const std::string worker = registered.worker_id();
  // The worker's row of `pgan workers`, split into its columns.
  const auto row = [&] {
    // A heartbeat first: slow `pgan` starts must not outlast the timeout.
    grpc::ClientContext beat_context;
    beat_context.AddMetadata("authorization", "Bearer worker-token");
    pgan::v1::HeartbeatRequest beat;
    beat.set_worker_id(worker);
    pgan::v1::HeartbeatResponse action;
    EXPECT_TRUE(workers->Heartbeat(&beat_context, beat, &action).ok());
    auto listed = Pgan("workers");
    EXPECT_EQ(listed.exit_code, 0) << listed.output;
    for (absl::string_view line : absl::StrSplit(listed.output, '\n')) {
      std::vector<std::string> columns =
          absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (!columns.empty() && columns[0] == worker) return columns;
    }
    ADD_FAILURE() << "no row for " << worker << ": " << listed.output;
    return std::vector<std::string>();
  };
  std::vector<std::string> idle = row();
  ASSERT_EQ(idle.size(), 9u);
  EXPECT_EQ(idle[8], "ago");
  idle.resize(7);  // Less the time since its heartbeat.
  EXPECT_EQ(idle, (std::vector<std::string>{worker, "cli-host", "0", "3",
                                            "idle", "-", "-"}));

  auto submitted = Pgan(
      "submit " +
      WriteJob(absl::StrCat(
          R"({"name": "one", "resources": )", R"({"workers": 1}, "training": )",
          R"({"model": {"cfg": "fastgan_lite", )",
          R"("resolution": 32}, "data": ")", dir_.file("data"),
          R"(/fashion.zip", "batch": 8, )", R"("kimg": 1}})")));
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  const std::string id = submitted.output.substr(10, 20);
  const std::vector<std::string> busy = row();
  ASSERT_EQ(busy.size(), 9u);
  EXPECT_EQ(busy[4], "busy");
  EXPECT_EQ(busy[5], id);
  EXPECT_EQ(busy[6], "1");
  EXPECT_EQ(busy[8], "ago");

  // No grid yet: a clear error and no file.
  const std::string out = dir_.file("grid.png");
  auto none = Pgan("samples " + id + " -o " + out);
  EXPECT_EQ(none.exit_code, 2) << none.output;
  EXPECT_NE(
      none.output.find("pgan samples: job " + id + " has no sample grid yet"),
      std::string::npos)
      << none.output;
  EXPECT_FALSE(fs::exists(out));

  // The trainer writes a grid into the job's run directory.
  Image image;
  image.width = 6;
  image.height = 2;
  image.channels = 3;
  image.pixels.assign(6 * 2 * 3, 200);
  const std::string png = EncodePng(image).value();
  const std::string run = dir_.file("storage") + "/" + id + "/00000-run";
  fs::create_directories(run);
  ASSERT_TRUE(WriteFileAtomically(run + "/fakes000002.png", png).ok());
  auto got = Pgan("samples " + id + " -o " + out);
  ASSERT_EQ(got.exit_code, 0) << got.output;
  EXPECT_EQ(got.output,
            absl::StrCat("wrote ", out, " (", png.size(), " bytes, 2 kimg)\n"));
  auto written = ReadImage(out);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->width, 6);
  EXPECT_EQ(written->height, 2);

  auto missing = Pgan("samples job-0123456789abcdef -o " + out);
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("no job job-0123456789abcdef"),
            std::string::npos)
      << missing.output;
  auto as_worker = Pgan("workers", "worker-token");
  EXPECT_EQ(as_worker.exit_code, 2) << as_worker.output;
  EXPECT_NE(as_worker.output.find("pgan workers: a worker token cannot use "
                                  "the job API"),
            std::string::npos)
      << as_worker.output;
}

TEST_F(CoordinatorCliTest, SubmitTakesYamlWithTheSameNamesAsJson) {
  const std::string yaml = dir_.file("job.yaml");
  ASSERT_TRUE(
      WriteFileAtomically(
          yaml, absl::StrCat("name: from-yaml\n"
                             "resources: {workers: 2}\n"
                             "training:\n"
                             "  model: {cfg: fastgan_lite, resolution: 32}\n"
                             "  data: \"",
                             dir_.file("data"),
                             "/fashion.zip\"\n"
                             "  batch: 8\n"
                             "  kimg: 1.5\n"
                             "  mirror: true\n"))
          .ok());
  auto submitted = Pgan("submit " + yaml);
  ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
  const std::string id = submitted.output.substr(10, 20);
  auto status = Pgan("status " + id);
  EXPECT_NE(status.output.find("from-yaml"), std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("1.5 kimg on 2 worker(s)"), std::string::npos)
      << status.output;

  ASSERT_TRUE(WriteFileAtomically(yaml, "name: x\ntraining: [unclosed\n").ok());
  auto broken = Pgan("submit " + yaml);
  EXPECT_EQ(broken.exit_code, 2) << broken.output;
  EXPECT_NE(broken.output.find("job.yaml: not YAML: line"), std::string::npos)
      << broken.output;
  ASSERT_TRUE(WriteFileAtomically(yaml, "name: x\nbatch_size: 4\n").ok());
  auto unknown = Pgan("submit " + yaml);
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("job.yaml: not a JobSpec in YAML"),
            std::string::npos)
      << unknown.output;
}

TEST_F(CoordinatorCliTest, ClientErrorsAreOneClearLine) {
  auto unknown =
      Pgan("submit " + WriteJob(R"({"name": "x", "batch_size": 4})"));
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("job.json: not a JobSpec in JSON"),
            std::string::npos)
      << unknown.output;
  EXPECT_NE(unknown.output.find("batch_size"), std::string::npos)
      << unknown.output;

  auto invalid = Pgan(
      "submit " + WriteJob(R"({"name": "x", "resources": {"workers": 0}})"));
  EXPECT_EQ(invalid.exit_code, 2) << invalid.output;
  EXPECT_NE(invalid.output.find("resources.workers: expected 1 to 1024, got 0"),
            std::string::npos)
      << invalid.output;

  auto no_token = Pgan("jobs", "");
  EXPECT_EQ(no_token.exit_code, 2) << no_token.output;
  EXPECT_NE(no_token.output.find("no token"), std::string::npos)
      << no_token.output;

  auto bad_token = Pgan("jobs", "nope");
  EXPECT_EQ(bad_token.exit_code, 2) << bad_token.output;

  auto missing = Pgan("status job-0123456789abcdef");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("no job job-0123456789abcdef"),
            std::string::npos)
      << missing.output;
}

}  // namespace
}  // namespace pgan::services
