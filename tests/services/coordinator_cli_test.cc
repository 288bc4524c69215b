// The real processes: pgan-coordinator on 127.0.0.1 (port 0, read back from
// --port-file) and the `pgan` client commands against it; the coordinator
// killed with SIGKILL and started again on the same state loses nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
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
    ASSERT_TRUE(
        WriteFileAtomically(dir_.file("tokens.txt"),
                            "alice user " + Sha256Hex("alice-token") + "\n")
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
