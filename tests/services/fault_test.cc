// The fault matrix (issue 15): each fault is injected into a running
// 2-worker job (3 workers in the pool: one spare) at a random moment, a
// random number of ticks into the run plus a random fraction of a tick
// (seeded, the seed printed; PGAN_FAULT_SEED=N repeats a run,
// PGAN_FAULT_RUNS=N sets the runs per fault, default 2). Moments early in
// a run fall into the rendezvous and the first snapshot write, later ones
// into training, snapshot writes and the tasks' exit. After each run an
// invariant checker reads the state database and the run directories:
//   - the job has succeeded within the bound (kTerminalBound);
//   - its restarts are within its budget;
//   - kimg never went back beyond the last complete snapshot, and never
//     dropped more often than the job restarted (a stale generation that
//     wrote on would add a drop);
//   - every recorded snapshot exists whole (its recorded size, and it opens
//     as safetensors), as does every snapshot file in the run directories.
// Each fault prints one line of figures: runs, failures, detection time
// (fault to the gang's restart), time to resume (the fault, or its end for
// one that lasts, to the job's next tick) and work lost (kimg the lost run
// had reported past the snapshot the next one resumed from, to a tick).
// At these sizes every snapshot has the same file name (the reference
// names them by whole kimg), so the database keeps only the newest record
// and a resumed run's floor is that record when it predates the run.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/file_util.h"
#include "common/safetensors.h"
#include "tests/services/pool_fixture.h"

namespace pgan::services {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::WaitFor;

constexpr int kIterations = 12;  // 6 ticks of 0.008 kimg.
constexpr int kSnapTicks = 2;    // A snapshot every other tick.
constexpr auto kTerminalBound = std::chrono::seconds(300);

// What one run measured.
struct RunFigures {
  std::optional<double> detect_s;  // Fault to the gang's restart.
  std::optional<double> resume_s;  // Fault (or its end) to the next tick.
  double lost_kimg = 0;
  std::vector<std::string> violations;
};

std::string Spread(const std::vector<double>& v, const char* unit) {
  if (v.empty()) return "n/a";
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return absl::StrCat(absl::SixDigits(*lo), "-", absl::SixDigits(*hi), " ",
                      unit);
}

class FaultTest : public PoolTest {
 protected:
  void SetUp() override {
    const char* seed = std::getenv("PGAN_FAULT_SEED");
    if (seed == nullptr || !absl::SimpleAtoi(seed, &seed_))
      seed_ = std::random_device{}();
    random_.seed(seed_);
    const char* runs = std::getenv("PGAN_FAULT_RUNS");
    if (runs == nullptr || !absl::SimpleAtoi(runs, &runs_) || runs_ < 1)
      runs_ = 2;
    std::cout << "fault seed " << seed_ << " (PGAN_FAULT_SEED=" << seed_
              << " repeats it), " << runs_ << " runs" << std::endl;
    // Each process on a host of its own where namespaces can be made:
    // host 0 the coordinator, hosts 1-3 the workers.
    if (testing::TestHosts::Unavailable().empty()) {
      hosts_ = std::make_unique<testing::TestHosts>(4);
      if (!hosts_->error().empty()) {
        std::cout << "no test hosts (" << hosts_->error()
                  << "): all on 127.0.0.1\n";
        hosts_.reset();
      }
    }
    PoolTest::SetUp();
    for (int w = 0; w < 3; ++w) StartWorker(HostOf(w));
  }

  // Worker w's host: 1 + w with test hosts.
  int HostOf(int w) const { return hosts_ ? 1 + w : 0; }
  void StartWorkerOnItsHost(int w) { StartWorker(HostOf(w), w); }
  void Reap(int w) {
    if (workers_[w] > 0) ::waitpid(workers_[w], nullptr, 0);
    workers_[w] = -1;
  }

  double Uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(random_);
  }

  // A worker of the job's gang now (its agent's log names the
  // generation's assignment), at random among them; -1 if none is within
  // 30 s.
  int GangWorker(const std::string& id) {
    std::vector<int> gang;
    WaitFor(std::chrono::seconds(30), [&] {
      const std::string assigned =
          absl::StrCat("assigned job ", id, " generation ",
                       StoredJobOf(id).generation(), " ");
      gang.clear();
      for (int w = 0; w < 3; ++w) {
        if (workers_[w] > 0 &&
            ReadFile(WorkerLog(w)).value_or("").find(assigned) !=
                std::string::npos) {
          gang.push_back(w);
        }
      }
      return !gang.empty();
    });
    if (gang.empty()) return -1;
    return gang[std::uniform_int_distribution<size_t>(
        0, gang.size() - 1)(random_)];
  }

  // The processes whose parent is `pid` (a worker's tasks).
  static std::vector<pid_t> Children(pid_t pid) {
    std::vector<pid_t> children;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      int child = 0;
      if (!absl::SimpleAtoi(entry.path().filename().string(), &child)) continue;
      const std::string stat =
          ReadFile((entry.path() / "stat").string()).value_or("");
      // pid (comm) state ppid ...: after the last ')'.
      const size_t close = stat.rfind(')');
      if (close == std::string::npos) continue;
      std::vector<std::string> fields =
          absl::StrSplit(stat.substr(close + 2), ' ');
      int parent = 0;
      if (fields.size() > 1 && absl::SimpleAtoi(fields[1], &parent) &&
          parent == pid) {
        children.push_back(child);
      }
    }
    return children;
  }

  pgan::v1::Job StoredJobOf(const std::string& id) {
    auto store = StateStore::Open(dir_.file("state.db"));
    if (!store.ok()) return {};
    auto stored = (*store)->GetJob(id);
    return stored.ok() ? stored->job : pgan::v1::Job();
  }

  // One run: a job, the fault `inject` at a random moment, the checks.
  // `inject` returns when the fault is over (a link healed, a process
  // started again).
  RunFigures Run(const std::function<void(const std::string& id)>& inject,
                 int min_ticks, int max_ticks) {
    RunFigures figures;
    const std::string id = Submit(kIterations, kSnapTicks);
    const int ticks =
        std::uniform_int_distribution<int>(min_ticks, max_ticks)(random_);
    const double offset_s = Uniform(0, 1.5);
    EXPECT_TRUE(WaitFor(
        std::chrono::seconds(240),
        [&] {
          return StoredJobOf(id).state() == pgan::v1::JOB_STATE_RUNNING &&
                 static_cast<int>(RecordedTicks(id).size()) >= ticks;
        }))
        << "job " << id << " never reached tick " << ticks;
    absl::SleepFor(absl::Seconds(offset_s));
    const pgan::v1::Job before = StoredJobOf(id);
    const absl::Time fault = absl::Now();
    inject(id);
    const absl::Time over = absl::Now();
    const size_t ticks_then = RecordedTicks(id).size();

    // Watch until the job ends: the restart and the next tick.
    std::optional<absl::Time> restarted, next_tick;
    pgan::v1::Job job;
    const bool ended = WaitFor(kTerminalBound, [&] {
      job = StoredJobOf(id);
      if (!restarted && job.generation() > before.generation())
        restarted = absl::Now();
      if (!next_tick && RecordedTicks(id).size() > ticks_then)
        next_tick = absl::Now();
      return job.state() == pgan::v1::JOB_STATE_SUCCEEDED ||
             job.state() == pgan::v1::JOB_STATE_FAILED ||
             job.state() == pgan::v1::JOB_STATE_CANCELLED;
    });
    if (restarted) figures.detect_s = absl::ToDoubleSeconds(*restarted - fault);
    if (next_tick) figures.resume_s = absl::ToDoubleSeconds(*next_tick - over);
    auto violate = [&](std::string what) {
      figures.violations.push_back(absl::StrCat(id, ": ", what));
    };
    if (!ended || job.state() != pgan::v1::JOB_STATE_SUCCEEDED) {
      violate(absl::StrCat("not succeeded within ", kTerminalBound.count(),
                           " s: ", pgan::v1::JobState_Name(job.state()), " ",
                           job.failure_reason()));
    }
    const int budget = job.spec().has_max_restarts()
                           ? job.spec().max_restarts()
                           : 5;  // The coordinator's default.
    if (job.restarts() > budget) {
      violate(absl::StrCat(job.restarts(), " restarts, budget ", budget));
    }
    CheckProgress(id, job, violate, &figures.lost_kimg);
    CheckSnapshots(id, violate);
    return figures;
  }

  // kimg goes back only at a restart, and never past the last snapshot
  // recorded before it; the work lost is what was trained past it.
  template <typename Violate>
  void CheckProgress(const std::string& id, const pgan::v1::Job& job,
                     Violate& violate, double* lost) {
    const std::vector<pgan::v1::TickRecord> ticks = RecordedTicks(id);
    const std::vector<pgan::v1::Snapshot> snapshots = RecordedSnapshots(id);
    int drops = 0;
    for (size_t i = 1; i < ticks.size(); ++i) {
      if (ticks[i].kimg() > ticks[i - 1].kimg() + 1e-9) continue;
      ++drops;
      // The newest snapshot of the lost run complete (recorded) before
      // the new run's first tick.
      double floor = 0;
      for (const pgan::v1::Snapshot& s : snapshots) {
        const double created =
            s.created().seconds() + s.created().nanos() * 1e-9;
        if (created <= ticks[i].timestamp() &&
            s.kimg() <= ticks[i - 1].kimg() + 1e-9) {
          floor = std::max(floor, s.kimg());
        }
      }
      // The run resumed from that snapshot (or a later one): its ticks
      // start there, and what the lost gang trained past it is lost.
      if (ticks[i].kimg() < floor - 1e-9) {
        violate(absl::StrCat("kimg went back to ", ticks[i].kimg(),
                             " past the snapshot at ", floor));
      }
      *lost += std::max(0.0, ticks[i - 1].kimg() - floor);
    }
    if (drops > job.restarts()) {
      violate(absl::StrCat("kimg dropped ", drops, " times in ", job.restarts(),
                           " restarts: a stale generation reported"));
    }
    if (ticks.empty() ||
        std::abs(ticks.back().kimg() - kIterations * 0.004) > 1e-9) {
      violate("the last tick is not at the job's end");
    }
  }

  template <typename Violate>
  void CheckSnapshots(const std::string& id, Violate& violate) {
    const std::vector<pgan::v1::Snapshot> snapshots = RecordedSnapshots(id);
    if (snapshots.empty() ||
        std::abs(snapshots.back().kimg() - kIterations * 0.004) > 1e-9) {
      violate("no snapshot at the job's end");
    }
    for (const pgan::v1::Snapshot& s : snapshots) {
      std::error_code error;
      const auto size = fs::file_size(s.path(), error);
      if (error || static_cast<int64_t>(size) != s.size_bytes()) {
        violate(absl::StrCat("recorded snapshot ", s.path(), " of ",
                             s.size_bytes(), " bytes is ",
                             error ? "missing" : absl::StrCat(size, " bytes")));
      }
    }
    std::error_code error;
    for (fs::recursive_directory_iterator it(dir_.file("storage/" + id), error),
         end;
         !error && it != end; it.increment(error)) {
      const std::string name = it->path().filename().string();
      if (name.rfind("network-snapshot-", 0) != 0) continue;
      if (absl::StatusOr<SafetensorsFile> file =
              SafetensorsFile::Open(it->path().string());
          !file.ok()) {
        violate(
            absl::StrCat("half-written snapshot: ", file.status().message()));
      }
    }
  }

  // Runs the matrix row of `fault`: runs_ runs, then one line of figures.
  void Matrix(const std::string& fault,
              const std::function<void(const std::string& id)>& inject,
              int min_ticks = 0, int max_ticks = 4) {
    std::vector<double> detect, resume, lost;
    int failures = 0;
    for (int run = 0; run < runs_; ++run) {
      RunFigures figures = Run(inject, min_ticks, max_ticks);
      if (figures.detect_s) detect.push_back(*figures.detect_s);
      if (figures.resume_s) resume.push_back(*figures.resume_s);
      lost.push_back(figures.lost_kimg);
      failures += figures.violations.empty() ? 0 : 1;
      for (const std::string& v : figures.violations)
        ADD_FAILURE() << fault << " run " << run << ": " << v;
    }
    std::cout << "fault " << fault << ": " << runs_ << " runs, " << failures
              << " failures; detected (gang restarted) " << Spread(detect, "s")
              << " (" << detect.size() << " of " << runs_
              << " restarted); resumed " << Spread(resume, "s")
              << "; work lost " << Spread(lost, "kimg") << "; seed " << seed_
              << (hosts_ ? ", on test hosts" : ", on 127.0.0.1") << std::endl;
  }

  void KillCoordinatorAndRestart(double down_s) {
    const int port = port_;
    KillCoordinator();
    absl::SleepFor(absl::Seconds(down_s));
    StartCoordinator(port);
  }

  uint64_t seed_ = 0;
  int runs_ = 2;
  std::mt19937_64 random_;
};

TEST_F(FaultTest, ATrainingProcessKilled) {
  Matrix("task SIGKILL", [&](const std::string& id) {
    const int w = GangWorker(id);
    ASSERT_GE(w, 0);
    for (pid_t task : Children(workers_[w])) ::kill(task, SIGKILL);
  });
}

TEST_F(FaultTest, AWorkerKilledAndStartedAgain) {
  Matrix("worker SIGKILL", [&](const std::string& id) {
    const int w = GangWorker(id);
    ASSERT_GE(w, 0);
    ::kill(workers_[w], SIGKILL);  // Its tasks die with it (PDEATHSIG).
    Reap(w);
    absl::SleepFor(absl::Seconds(Uniform(0, 3)));
    StartWorkerOnItsHost(w);
  });
}

TEST_F(FaultTest, AWholeHostKilledAndStartedAgain) {
  Matrix("host SIGKILL", [&](const std::string& id) {
    const int w = GangWorker(id);
    ASSERT_GE(w, 0);
    // Every process of the host at once: the agent and its tasks.
    std::vector<pid_t> all =
        hosts_ ? hosts_->Pids(HostOf(w)) : Children(workers_[w]);
    all.push_back(workers_[w]);
    for (pid_t pid : all) ::kill(pid, SIGKILL);
    Reap(w);
    absl::SleepFor(absl::Seconds(Uniform(0, 3)));
    StartWorkerOnItsHost(w);
  });
}

TEST_F(FaultTest, TheCoordinatorKilledAndStartedAgain) {
  Matrix("coordinator SIGKILL",
         [&](const std::string&) { KillCoordinatorAndRestart(Uniform(0, 4)); });
}

// At the last tick: the tasks write their final snapshot and exit while
// the coordinator is down.
TEST_F(FaultTest, TheCoordinatorKilledAsTheTasksExit) {
  Matrix(
      "coordinator SIGKILL at the end",
      [&](const std::string&) { KillCoordinatorAndRestart(Uniform(0, 4)); },
      /*min_ticks=*/kIterations / 2 - 1, /*max_ticks=*/kIterations / 2 - 1);
}

TEST_F(FaultTest, AWorkersLinkCutAndHealed) {
  if (!hosts_) GTEST_SKIP() << "needs test hosts (root, network namespaces)";
  Matrix("link cut", [&](const std::string& id) {
    const int w = GangWorker(id);
    ASSERT_GE(w, 0);
    hosts_->CutLink(HostOf(w));
    absl::SleepFor(absl::Seconds(Uniform(2, 15)));
    hosts_->HealLink(HostOf(w));
  });
}

// The workers still reach each other (their gang trains on), not the
// coordinator, nor it them.
TEST_F(FaultTest, WorkersPartitionedFromTheCoordinator) {
  if (!hosts_) GTEST_SKIP() << "needs test hosts (root, network namespaces)";
  Matrix("partition workers|coordinator", [&](const std::string&) {
    for (int w = 0; w < 3; ++w) hosts_->Partition(kCoordinatorHost, HostOf(w));
    absl::SleepFor(absl::Seconds(Uniform(2, 15)));
    for (int w = 0; w < 3; ++w)
      hosts_->Unpartition(kCoordinatorHost, HostOf(w));
    ASSERT_TRUE(hosts_->error().empty()) << hosts_->error();
  });
}

TEST_F(FaultTest, DelayAndLossOnTheCoordinatorsLink) {
  if (!hosts_) GTEST_SKIP() << "needs test hosts (root, network namespaces)";
  if (const std::string why =
          hosts_->Impair(kCoordinatorHost, "delay 50ms 20ms loss 2%");
      !why.empty()) {
    GTEST_SKIP() << "tc netem is not available here (the kernel needs "
                    "sch_netem): "
                 << why;
  }
  hosts_->Impair(kCoordinatorHost, "");
  Matrix("netem delay 50ms loss 2%", [&](const std::string&) {
    hosts_->Impair(kCoordinatorHost, "delay 50ms 20ms loss 2%");
    absl::SleepFor(absl::Seconds(Uniform(5, 15)));
    hosts_->Impair(kCoordinatorHost, "");
  });
}

}  // namespace
}  // namespace pgan::services
