#include "worker/pool_agent.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/coordinator_client.h"
#include "worker/task_pipe.h"

extern char** environ;

namespace pgan::worker {
namespace {

using pgan::v1::HeartbeatResponse;

// A running task: the child process and what it reports back.
struct Task {
  pid_t pid = -1;
  pgan::v1::Assignment assignment;
  int report_fd = -1;  // Read end of the report pipe.
  TaskReportReader reader;
  int64_t iteration = 0, cur_nimg = 0;
  bool killed = false;         // By the agent (abort): no report needed.
  bool exit_reported = false;  // Its exit frame has arrived.
};

// The reports on their way to the coordinator, oldest first: each stays
// until the coordinator takes it or refuses it for good.
using Outbox = std::deque<TaskReport>;

// The job and generation a report is about.
std::pair<std::string, int64_t> Subject(const TaskReport& report) {
  return std::visit(
      [](const auto& r) { return std::make_pair(r.job_id(), r.generation()); },
      report);
}

std::string ExitText(int status) {
  if (WIFSIGNALED(status)) {
    return absl::StrCat("killed by signal ", WTERMSIG(status), " (",
                        strsignal(WTERMSIG(status)), ")");
  }
  return absl::StrCat("exited with code ", WEXITSTATUS(status));
}

// Starts `pgan-worker --task -` with the assignment on its stdin and the
// report pipe on fd 3. Between fork and exec only async-signal-safe
// calls: argv and envp are built before.
absl::StatusOr<Task> StartTask(const PoolAgentOptions& options,
                               const std::string& worker_id,
                               const pgan::v1::Assignment& assignment) {
  std::vector<std::string> args = {
      options.executable,
      "--task",
      "-",
      "--coordinator",
      options.channel.address,
      "--worker-id",
      worker_id,
      "--hostname",
      options.hostname,
      "--cpu-slots",
      std::to_string(options.cpu_slots),
      "--comm-timeout",
      std::to_string(absl::ToDoubleSeconds(options.comm_timeout)),
      "--report-fd",
      "3"};
  if (!options.channel.tls_ca.empty()) {
    args.insert(args.end(), {"--tls-ca", options.channel.tls_ca});
  }
  if (!options.channel.tls_cert.empty()) {
    args.insert(args.end(), {"--tls-cert", options.channel.tls_cert,
                             "--tls-key", options.channel.tls_key});
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The token goes through the environment, not the command line (which
  // every user of the host can read).
  std::string token_env = "PGAN_TOKEN=" + options.token;
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "PGAN_TOKEN=", 11) != 0) envp.push_back(*e);
  }
  envp.push_back(token_env.data());
  envp.push_back(nullptr);

  int input[2], reports[2];
  if (pipe2(input, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  if (pipe2(reports, O_CLOEXEC) != 0) {
    close(input[0]);
    close(input[1]);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const pid_t agent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {input[0], input[1], reports[0], reports[1]}) close(fd);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != agent) _exit(127);  // The agent is already gone.
    dup2(input[0], 0);
    dup2(reports[1], 3);  // dup2 clears close-on-exec on the copy.
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(input[0]);
  close(reports[1]);
  const std::string bytes = assignment.SerializeAsString();
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n =
        write(input[1], bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // The child died; waitpid tells.
    written += static_cast<size_t>(n);
  }
  close(input[1]);
  fcntl(reports[0], F_SETFL, O_NONBLOCK);
  Task task;
  task.pid = pid;
  task.assignment = assignment;
  task.report_fd = reports[0];
  return task;
}

// Moves what the task has written so far into the outbox; its ticks are
// also the progress the heartbeats carry.
void ReadReports(Task& task, Outbox& outbox, std::ostream& log) {
  char bytes[65536];
  while (true) {
    const ssize_t n = read(task.report_fd, bytes, sizeof(bytes));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // Nothing more for now, or the task has ended.
    std::vector<TaskReport> reports;
    const absl::Status read = task.reader.Feed(bytes, n, &reports);
    if (!read.ok()) {
      log << "pgan-worker: " << read.message() << std::endl;
      return;
    }
    for (TaskReport& report : reports) {
      if (const auto* tick =
              std::get_if<pgan::v1::ReportTickRequest>(&report)) {
        task.iteration = tick->tick().iterations();
        task.cur_nimg = static_cast<int64_t>(tick->tick().kimg() * 1000 + 0.5);
      }
      task.exit_reported =
          task.exit_reported ||
          std::holds_alternative<pgan::v1::ReportExitRequest>(report);
      outbox.push_back(std::move(report));
    }
  }
}

// Sends the outbox in order until it is empty or the coordinator cannot
// take the next report now; true when empty.
bool Flush(CoordinatorClient& client, Outbox& outbox, std::ostream& log) {
  while (!outbox.empty()) {
    const absl::Status sent = client.Report(outbox.front());
    if (ShouldResend(sent)) return false;
    if (!sent.ok()) {
      const auto [job, generation] = Subject(outbox.front());
      log << "pgan-worker: the coordinator refused a report of job " << job
          << " generation " << generation << ": " << sent.message()
          << std::endl;
    }
    outbox.pop_front();
  }
  return true;
}

// Registers, retrying with backoff while the coordinator is unreachable.
absl::StatusOr<pgan::v1::RegisterWorkerResponse> Register(
    CoordinatorClient& client, const PoolAgentOptions& options,
    const std::string& worker_id,
    const std::pair<std::string, int64_t>& running,
    const std::atomic<bool>* stop, std::ostream& log, AgentHealth& health) {
  pgan::v1::RegisterWorkerRequest request;
  request.set_worker_id(worker_id);
  request.set_job_id(running.first);
  request.set_generation(running.second);
  request.mutable_info()->set_host(options.hostname);
  request.mutable_info()->set_gpus(options.gpus);
  request.mutable_info()->set_cpu_slots(options.cpu_slots);
  request.mutable_info()->set_version(PGAN_VERSION_STRING);
  absl::Duration backoff = absl::Milliseconds(250);
  bool warned = false;
  while (!stop->load()) {
    health.Beat();
    absl::StatusOr<pgan::v1::RegisterWorkerResponse> response =
        client.Register(request);
    if (response.ok()) {
      health.SetReady(true);
      return response;
    }
    health.SetReady(
        false, absl::StrCat("cannot register with ", options.channel.address,
                            ": ", response.status().message()));
    if (!ShouldRetry(response.status())) return response.status();
    if (!warned) {
      log << "pgan-worker: coordinator " << options.channel.address
          << " not reachable (" << response.status().message() << "); retrying"
          << std::endl;
      warned = true;
    }
    absl::SleepFor(Jittered(backoff));
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
  return absl::CancelledError("stopped before registering");
}

}  // namespace

absl::Status PoolAgentOptions::Validate() const {
  if (absl::Status valid = channel.Validate(); !valid.ok()) return valid;
  if (token.empty()) {
    return absl::InvalidArgumentError(
        "no worker token: give --token-file or set PGAN_TOKEN");
  }
  if (hostname.empty()) {
    return absl::InvalidArgumentError("--hostname: expected a host name");
  }
  if (gpus < 0 || cpu_slots < 1) {
    return absl::InvalidArgumentError(
        "--gpus must be >= 0 and --cpu-slots >= 1");
  }
  if (executable.empty()) {
    return absl::InvalidArgumentError("the pgan-worker executable is unknown");
  }
  return absl::OkStatus();
}

absl::Status RunPoolAgent(const PoolAgentOptions& options,
                          const std::atomic<bool>* stop, std::ostream& log,
                          AgentHealth* health_or_null) {
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  AgentHealth unobserved;
  AgentHealth& health =
      health_or_null != nullptr ? *health_or_null : unobserved;
  absl::StatusOr<std::unique_ptr<CoordinatorClient>> made =
      CoordinatorClient::Create(options.channel, options.token);
  if (!made.ok()) return made.status();
  CoordinatorClient& client = **made;
  absl::StatusOr<pgan::v1::RegisterWorkerResponse> registered =
      Register(client, options, options.worker_id, {}, stop, log, health);
  if (!registered.ok()) {
    return stop->load() ? absl::OkStatus() : registered.status();
  }
  const std::string worker_id = registered->worker_id();
  // The coordinator's interval (it grows with the pool), each wait
  // jittered; doubled, up to 4x, while the coordinator sheds load.
  absl::Duration interval =
      absl::Milliseconds(std::max(100, registered->heartbeat_interval_ms()));
  int shed = 0;  // Heartbeats refused in a row with RESOURCE_EXHAUSTED.
  auto wait_to_beat = [&] {
    absl::SleepFor(Jittered(interval * (1 << std::min(shed, 2))));
  };
  log << "pgan-worker " << worker_id << " registered with "
      << options.channel.address << " (" << options.hostname << ", "
      << options.gpus << " GPU, " << options.cpu_slots << " cores)"
      << std::endl;

  std::optional<Task> task;
  Outbox outbox;
  auto end_task = [&](int signal) {
    if (!task) return;
    task->killed = signal == SIGKILL;
    kill(task->pid, signal);
  };
  // Reaps the task if it has ended (blocking: waits for it); a task that
  // died without handing over its exit (a crash, a kill from outside) gets
  // one written here: retryable, the coordinator ignores it for an old gang.
  auto reap = [&](bool block) {
    if (!task) return;
    ReadReports(*task, outbox, log);
    int status = 0;
    if (waitpid(task->pid, &status, block ? 0 : WNOHANG) != task->pid) return;
    ReadReports(*task, outbox, log);  // What it wrote before it ended.
    if (!task->exit_reported && !task->killed) {
      pgan::v1::ReportExitRequest exit;
      exit.set_worker_id(worker_id);
      exit.set_job_id(task->assignment.job_id());
      exit.set_generation(task->assignment.generation());
      exit.set_exit_code(WIFEXITED(status) ? WEXITSTATUS(status) : 128);
      if (exit.exit_code() == 0) exit.set_exit_code(1);
      exit.set_reason("the training process " + ExitText(status) +
                      " without reporting how it ended");
      exit.set_retryable(true);
      outbox.push_back(std::move(exit));
    }
    log << "pgan-worker: task " << task->assignment.job_id() << " generation "
        << task->assignment.generation() << " " << ExitText(status)
        << std::endl;
    close(task->report_fd);
    task.reset();
  };
  // What this worker is busy with: its task's job and generation, or,
  // until the coordinator has taken its last reports, the ended task's (so
  // that a restarted coordinator adopts it and takes them).
  auto running = [&]() -> std::pair<std::string, int64_t> {
    if (task) return {task->assignment.job_id(), task->assignment.generation()};
    if (!outbox.empty()) return Subject(outbox.front());
    return {};
  };
  bool unreachable = false;
  while (true) {
    health.Beat();
    reap(/*block=*/false);
    if (stop->load()) {
      // Tell the coordinator now rather than let it wait for the timeout.
      const auto leave = [&] {
        health.SetReady(false, "leaving the pool");
        // The last reports first, for a while: a task stopped here
        // snapshots and says so.
        const absl::Time give_up = absl::Now() + absl::Seconds(10);
        while (!Flush(client, outbox, log) && absl::Now() < give_up) {
          absl::SleepFor(absl::Milliseconds(500));
        }
        if (!outbox.empty()) {
          log << "pgan-worker: left with " << outbox.size()
              << " reports the coordinator did not take" << std::endl;
        }
        pgan::v1::HeartbeatRequest bye;
        bye.set_worker_id(worker_id);
        bye.set_leaving(true);
        client.Heartbeat(bye).IgnoreError();
        log << "pgan-worker " << worker_id << " left the pool" << std::endl;
      };
      if (!task) {
        leave();
        return absl::OkStatus();
      }
      // The task snapshots at its next iteration and reports; one stuck in
      // a collective is killed after the collective timeout.
      end_task(SIGTERM);
      const absl::Time give_up = absl::Now() + options.comm_timeout;
      while (task) {
        if (absl::Now() > give_up) {
          end_task(SIGKILL);
          reap(/*block=*/true);
          break;
        }
        absl::SleepFor(absl::Milliseconds(100));
        reap(/*block=*/false);
      }
      leave();
      return absl::OkStatus();
    }

    // Reports before the heartbeat: an exit the coordinator has taken is
    // not then mistaken for a task lost without one.
    Flush(client, outbox, log);
    pgan::v1::HeartbeatRequest beat;
    beat.set_worker_id(worker_id);
    const auto [job_id, generation] = running();
    beat.set_job_id(job_id);
    beat.set_generation(generation);
    if (task) {
      beat.set_iteration(task->iteration);
      beat.set_cur_nimg(task->cur_nimg);
    }
    absl::StatusOr<HeartbeatResponse> response = client.Heartbeat(beat);
    if (!response.ok()) {
      const absl::StatusCode code = response.status().code();
      if (code == absl::StatusCode::kNotFound) {
        // The coordinator restarted (or declared this worker lost): register
        // again under the same id; the next heartbeat carries the task, and
        // the coordinator adopts it or says abort.
        health.SetReady(false, "the coordinator does not know this worker");
        registered =
            Register(client, options, worker_id, running(), stop, log, health);
        if (!registered.ok() && !stop->load()) return registered.status();
        continue;
      }
      if (code == absl::StatusCode::kUnauthenticated ||
          code == absl::StatusCode::kPermissionDenied) {
        end_task(SIGKILL);
        return response.status();
      }
      health.SetReady(false,
                      absl::StrCat("heartbeat to ", options.channel.address,
                                   " failed: ", response.status().message()));
      if (!unreachable) {
        log << "pgan-worker: heartbeat failed (" << response.status().message()
            << "); retrying" << (task ? ", the task keeps training" : "")
            << std::endl;
        unreachable = true;
      }
      shed = code == absl::StatusCode::kResourceExhausted ? shed + 1 : 0;
      wait_to_beat();
      continue;
    }
    shed = 0;
    if (response->heartbeat_interval_ms() > 0) {
      interval =
          absl::Milliseconds(std::max(100, response->heartbeat_interval_ms()));
    }
    health.SetReady(true);
    if (unreachable) {
      log << "pgan-worker: coordinator reachable again" << std::endl;
      unreachable = false;
    }
    switch (response->action()) {
      case HeartbeatResponse::ACTION_ASSIGN: {
        if (task) {  // Superseded: its gang was aborted.
          end_task(SIGKILL);
          reap(/*block=*/true);
        }
        const pgan::v1::Assignment& a = response->assignment();
        log << "pgan-worker: assigned job " << a.job_id() << " generation "
            << a.generation() << " (" << a.world_size() << " workers"
            << (a.resume_snapshot().empty()
                    ? ""
                    : ", resuming " + a.resume_snapshot())
            << ")" << std::endl;
        absl::StatusOr<Task> started = StartTask(options, worker_id, a);
        if (!started.ok()) {
          pgan::v1::ReportExitRequest exit;
          exit.set_worker_id(worker_id);
          exit.set_job_id(a.job_id());
          exit.set_generation(a.generation());
          exit.set_exit_code(1);
          exit.set_reason(std::string(started.status().message()));
          exit.set_retryable(true);
          outbox.push_back(std::move(exit));
        } else {
          task = std::move(*started);
        }
        break;
      }
      case HeartbeatResponse::ACTION_ABORT:
        if (task) {
          log << "pgan-worker: aborting job " << task->assignment.job_id()
              << ": " << response->reason() << std::endl;
          end_task(SIGKILL);
        }
        break;
      case HeartbeatResponse::ACTION_STOP:
        end_task(SIGTERM);
        break;
      default:
        break;
    }
    wait_to_beat();
  }
}

}  // namespace pgan::worker
