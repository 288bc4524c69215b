// The fixture of the whole-service tests (pool_test.cc, fault_test.cc):
// real processes, pgan-coordinator and pool workers (`pgan-worker
// --coordinator`, each running its tasks as child processes that form a
// Gloo gang through the coordinator), driven with the `pgan` client
// commands, on 127.0.0.1 or (HostsPoolTest) each on a host of its own:
// network namespaces, tests/common/test_hosts.h, skipped without root.
// Needs PGAN_COORDINATOR, PGAN_WORKER and PGAN_BINARY defined.
#ifndef PGAN_TESTS_SERVICES_POOL_FIXTURE_H_
#define PGAN_TESTS_SERVICES_POOL_FIXTURE_H_

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/image_io.h"
#include "services/auth.h"
#include "services/state_store.h"
#include "tests/common/subprocess.h"
#include "tests/common/test_dir.h"
#include "tests/common/test_hosts.h"

namespace pgan::services {

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 16 random 32x32 RGB images: the dataset, as a folder.
    data_ = dir_.file("data/images");
    std::filesystem::create_directories(data_);
    std::mt19937 random(5);
    for (int i = 0; i < 16; ++i) {
      Image image{32, 32, 3, std::vector<uint8_t>(32 * 32 * 3)};
      for (uint8_t& p : image.pixels) p = static_cast<uint8_t>(random());
      ASSERT_TRUE(WritePng(absl::StrCat(data_, "/img", i, ".png"), image).ok());
    }
    ASSERT_TRUE(WriteFileAtomically(dir_.file("tokens.txt"),
                                    "alice user " + Sha256Hex("alice-token") +
                                        "\nw worker " +
                                        Sha256Hex("worker-token") + "\n")
                    .ok());
    StartCoordinator(0);
  }

  void TearDown() override {
    for (pid_t pid : workers_) {
      if (pid > 0) ::kill(pid, SIGKILL);
    }
    for (pid_t pid : workers_) {
      if (pid > 0) ::waitpid(pid, nullptr, 0);
    }
    KillCoordinator();
    if (HasFailure()) {
      for (const auto& entry :
           std::filesystem::directory_iterator(dir_.path())) {
        if (entry.path().extension() == ".log") {
          std::cerr << "==> " << entry.path() << "\n"
                    << ReadFile(entry.path().string()).value_or("") << "\n";
        }
      }
    }
  }

  // On `port`, or any free one (0) read back from --port-file.
  void StartCoordinator(int port) {
    const std::string port_file = dir_.file("port");
    std::filesystem::remove(port_file);
    coordinator_ = ::pgan::testing::Spawn(
        On(kCoordinatorHost,
           {PGAN_COORDINATOR, "--listen",
            absl::StrCat(Address(kCoordinatorHost), ":", port), "--port-file",
            port_file, "--state", dir_.file("state.db"), "--tokens",
            dir_.file("tokens.txt"), "--data-root", dir_.file("data"),
            "--storage", dir_.file("storage"), "--metrics-listen",
            absl::StrCat(Address(kCoordinatorHost), ":0")}),
        dir_.file("coordinator.log"));
    port_ = 0;
    ::pgan::testing::WaitFor(std::chrono::seconds(20), [&] {
      int read = 0;
      auto text = ReadFile(port_file);
      if (text.ok() &&
          absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &read)) {
        port_ = read;
      }
      return port_ > 0;
    });
    ASSERT_GT(port_, 0) << "pgan-coordinator did not start";
  }

  void KillCoordinator() {
    if (coordinator_ <= 0) return;
    ::kill(coordinator_, SIGKILL);
    ::waitpid(coordinator_, nullptr, 0);
    coordinator_ = -1;
  }

  // A pool worker on `host` (with test hosts; else 127.0.0.1); its log is
  // worker-<n>.log. With `n`, worker n started again in its place (its log
  // goes on), after it was killed and reaped.
  int StartWorker(int host = 0, int n = -1) {
    if (n < 0) {
      n = static_cast<int>(workers_.size());
      workers_.push_back(-1);
    }
    workers_[n] = ::pgan::testing::Spawn(
        On(host,
           {PGAN_WORKER, "--coordinator", CoordinatorAddress(), "--hostname",
            Address(host), "--cpu-slots", "1", "--comm-timeout", "30"}),
        WorkerLog(n), {"PGAN_TOKEN=worker-token"});
    return n;
  }

  // Where the processes run: test hosts (HostsPoolTest) or this one.
  static constexpr int kCoordinatorHost = 0;
  std::string Address(int host) const {
    return hosts_ ? hosts_->address(host) : "127.0.0.1";
  }
  std::vector<std::string> On(int host, std::vector<std::string> argv) const {
    return hosts_ ? hosts_->On(host, std::move(argv)) : argv;
  }
  std::string CoordinatorAddress() const {
    return absl::StrCat(Address(kCoordinatorHost), ":", port_);
  }
  std::string WorkerLog(int n) {
    return dir_.file(absl::StrCat("worker-", n, ".log"));
  }

  ::pgan::testing::CommandResult Pgan(const std::string& args) {
    return ::pgan::testing::RunCommand(absl::StrCat(
        "PGAN_TOKEN=alice-token PGAN_COORDINATOR=", CoordinatorAddress(), " ",
        hosts_ ? hosts_->ShellOn(kCoordinatorHost) : "", PGAN_BINARY, " ",
        args));
  }

  // Submits a 2-worker job of `iterations` iterations of batch 4, a tick
  // every 2 iterations and a snapshot every `snap` ticks; returns its id.
  std::string Submit(int iterations, int snap = 1) {
    const std::string spec = dir_.file("job.json");
    EXPECT_TRUE(
        WriteFileAtomically(
            spec,
            absl::StrCat(R"({"name": "pool", "resources": {"workers": 2},)",
                         R"( "training": {"model": {"cfg": "fastgan_lite",)",
                         R"( "resolution": 32, "ngf": 8}, "data": ")", data_,
                         R"(", "batch": 4, "kimg": )", iterations * 0.004,
                         R"(, "tick": 0.008, "snap": )", snap,
                         R"(, "threads": 1,)",
                         R"( "grid_width": 2, "grid_height": 1}})"))
            .ok());
    auto submitted = Pgan("submit " + spec);
    EXPECT_EQ(submitted.exit_code, 0) << submitted.output;
    EXPECT_EQ(submitted.output.rfind("submitted job-", 0), 0u)
        << submitted.output;
    return submitted.output.substr(10, 20);
  }

  // "state" and "generation" of `pgan status`.
  std::string State(const std::string& id) {
    auto status = Pgan("status " + id);
    for (absl::string_view line : absl::StrSplit(status.output, '\n')) {
      if (absl::ConsumePrefix(&line, "state")) {
        return std::string(absl::StripAsciiWhitespace(line));
      }
    }
    return "";
  }
  int Generation(const std::string& id) {
    auto status = Pgan("status " + id);
    const size_t at = status.output.find("generation ");
    int generation = 0;
    if (at != std::string::npos) {
      absl::SimpleAtoi(
          status.output.substr(at + 11, status.output.find('\n', at) - at - 11),
          &generation);
    }
    return generation;
  }

  // The snapshots the coordinator recorded, read from its database.
  std::vector<pgan::v1::Snapshot> RecordedSnapshots(const std::string& id) {
    auto store = StateStore::Open(dir_.file("state.db"));
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return {};
    auto snapshots = (*store)->Snapshots(id);
    return snapshots.ok() ? *snapshots : std::vector<pgan::v1::Snapshot>{};
  }
  std::vector<pgan::v1::TickRecord> RecordedTicks(const std::string& id) {
    auto store = StateStore::Open(dir_.file("state.db"));
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return {};
    auto ticks = (*store)->Ticks(id);
    return ticks.ok() ? *ticks : std::vector<pgan::v1::TickRecord>{};
  }

  std::unique_ptr<::pgan::testing::TestHosts>
      hosts_;  // Null: all on 127.0.0.1.
  ::pgan::testing::TestDir dir_;
  std::string data_;
  pid_t coordinator_ = -1;
  int port_ = 0;
  std::vector<pid_t> workers_;
};

// The same service across hosts: the coordinator on host 0, workers on
// hosts 1 and 2 (network namespaces on one bridge), the Gloo gang's
// traffic between their own addresses.
class HostsPoolTest : public PoolTest {
 protected:
  void SetUp() override {
    if (const std::string why = ::pgan::testing::TestHosts::Unavailable();
        !why.empty()) {
      GTEST_SKIP() << "no test hosts: " << why;
    }
    hosts_ = std::make_unique<::pgan::testing::TestHosts>(3);
    // Root without CAP_NET_ADMIN (some containers) gets this far.
    if (!hosts_->error().empty()) {
      GTEST_SKIP() << "no test hosts: " << hosts_->error();
    }
    PoolTest::SetUp();
  }
};

}  // namespace pgan::services

#endif  // PGAN_TESTS_SERVICES_POOL_FIXTURE_H_
