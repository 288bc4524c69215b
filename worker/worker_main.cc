// pgan-worker: one process of a training job, in one of three ways.
//
//   mpirun -np 4 pgan-worker --job job.json      a rank of an mpirun job
//   pgan-worker --coordinator HOST:PORT          a pool worker: registers
//                                                and runs what it is given
//   mpirun -np 4 pgan-worker --job job.json --coordinator HOST:PORT
//                                                an mpirun job that reports
//                                                to the coordinator (rank 0
//                                                with the user's token)
//
// Pool workers read the worker token from --token-file or PGAN_TOKEN. They
// run each assignment as `pgan-worker --task -` (internal).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/time/time.h"
#include "trainer/stats_cache.h"
#include "trainer/trainer.h"
#include "worker/attached_job.h"
#include "worker/coordinator_client.h"
#include "worker/job_proto.h"
#include "worker/job_spec.h"
#include "worker/pool_agent.h"
#include "worker/pool_task.h"
#include "worker/run_job.h"

namespace {

std::atomic<bool> g_stop{false};

void HandleStop(int signal) {
  g_stop.store(true);
  std::signal(signal, SIG_DFL);
}

// Open MPI, MPICH/Hydra and PMIx launchers set one of these.
bool UnderMpiLauncher() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr ||
         std::getenv("PMI_SIZE") != nullptr ||
         std::getenv("PMIX_RANK") != nullptr;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

// The token from a file (its first line) or PGAN_TOKEN.
bool ReadToken(const std::string& file, std::string* token) {
  if (file.empty()) {
    const char* env = std::getenv("PGAN_TOKEN");
    *token = env != nullptr ? env : "";
    return true;
  }
  std::ifstream in(file);
  if (!in || !std::getline(in, *token)) return false;
  *token = std::string(absl::StripAsciiWhitespace(*token));
  return true;
}

// A rank of an mpirun job; with a coordinator address, rank 0 attaches the
// gang to it as one job of the token's user.
int RunMpiJob(const std::string& job_path, const std::string& resume,
              const pgan::rpc::ChannelOptions& channel,
              const std::string& token_file, bool dry_run) {
  auto job = pgan::worker::ReadJobFile(job_path);
  if (!job.ok()) {
    std::cerr << "pgan-worker: " << job.status().message() << "\n";
    return 2;
  }
  if (!resume.empty()) job->resume = resume;
  job->fallback_stats_cache = pgan::trainer::StatisticsCache::InUserCache(
      std::getenv("XDG_CACHE_HOME"), std::getenv("HOME"));
  if (dry_run) {
    // The launcher's world size, without starting the communicator.
    const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
    const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
    if (rank != nullptr && std::string(rank) != "0") return 0;
    const absl::Status status = pgan::trainer::DryRun(
        job->training, job->resume, size != nullptr ? std::atoi(size) : 1,
        job->surface, std::cout);
    if (!status.ok()) {
      std::cerr << "pgan-worker: " << job_path << ": " << status.message()
                << "\n";
      return 2;
    }
    return 0;
  }
  auto comm = pgan::worker::MakeJobCommunicator(*job, UnderMpiLauncher());
  if (!comm.ok()) {
    std::cerr << "pgan-worker: " << comm.status().message() << "\n";
    return 1;
  }
  std::signal(SIGINT, HandleStop);
  std::signal(SIGTERM, HandleStop);
  // mpirun forwards SIGUSR1 to every rank (SIGTERM would make it kill the
  // ranks after a grace of seconds): a batch system's warning before the
  // wall-time limit stops the job with a snapshot (deploy/slurm).
  std::signal(SIGUSR1, HandleStop);
  std::unique_ptr<pgan::worker::AttachedJob> attached;
  if (!channel.address.empty() && (*comm)->rank() == 0) {
    std::string token;
    absl::StatusOr<std::unique_ptr<pgan::worker::AttachedJob>> started =
        absl::InvalidArgumentError("--token-file: cannot read " + token_file);
    if (ReadToken(token_file, &token)) {
      const std::string name =
          std::filesystem::path(job_path).stem().string().substr(0, 128);
      started = pgan::worker::AttachedJob::Start(
          channel, token,
          pgan::worker::JobSpecToProto(
              *job, name, (*comm)->world_size(),
              (*comm)->backend() == pgan::comm::Backend::kNccl),
          HostName(), &g_stop, std::cout);
    }
    if (!started.ok()) {
      const std::string message =
          "pgan-worker: " + std::string(started.status().message());
      if ((*comm)->world_size() > 1) (*comm)->Abort(message, 2);
      std::cerr << message << "\n";
      return 2;
    }
    attached = std::move(*started);
  }
  const absl::StatusOr<pgan::trainer::RunEnd> end = pgan::worker::RunJob(
      *job, **comm, &g_stop, std::cout,
      attached != nullptr ? attached->observer() : nullptr);
  const absl::Status status = end.status();
  if (attached != nullptr) {
    // A stop before the end is not a success, even with its snapshot.
    absl::Status reported = status;
    if (status.ok() && g_stop.load()) {
      reported = absl::CancelledError(
          "stopped before the end (a signal, or a cancel); the last snapshot "
          "resumes it");
    }
    attached->Finish(reported, absl::Minutes(2));
  }
  if (!status.ok()) {
    const std::string message = "pgan-worker rank " +
                                std::to_string((*comm)->rank()) + ": " +
                                std::string(status.message());
    // Other ranks may be waiting in a collective: end the whole job.
    if ((*comm)->world_size() > 1) (*comm)->Abort(message, 1);
    std::cerr << message << "\n";
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return *end == pgan::trainer::RunEnd::kRestart ? pgan::trainer::kExitRestart
                                                  : 0;
}

// The child of a pool agent: the assignment on stdin, its reports (the
// exit last) to the agent; the exit code says how it ended (0, 1
// retryable, 2 final, 3 it could not start).
int RunTask(const pgan::rpc::ChannelOptions& channel,
            const pgan::worker::PoolTaskOptions& options) {
  std::ostringstream bytes;
  bytes << std::cin.rdbuf();
  pgan::v1::Assignment assignment;
  if (!assignment.ParseFromString(bytes.str())) {
    std::cerr << "pgan-worker --task: stdin is not an Assignment\n";
    return 3;
  }
  std::string token;
  ReadToken("", &token);
  auto client = pgan::worker::CoordinatorClient::Create(channel, token);
  if (!client.ok()) {
    std::cerr << "pgan-worker --task: " << client.status().message() << "\n";
    return 3;
  }
  const pgan::v1::ReportExitRequest exit = pgan::worker::RunPoolTask(
      **client, assignment, options, &g_stop, std::cout);
  if (exit.exit_code() != 0) {
    std::cerr << "pgan-worker: job " << assignment.job_id() << " generation "
              << assignment.generation() << ": " << exit.reason() << "\n";
  }
  return exit.exit_code() == 0 ? 0 : exit.retryable() ? 1 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pgan-worker: one process of a pgan training job"};
  std::string job_path, resume, task, token_file;
  pgan::rpc::ChannelOptions channel;
  pgan::worker::PoolAgentOptions agent;
  agent.hostname = HostName();
  agent.cpu_slots =
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  double comm_timeout_s = 60;
  int report_fd = -1;
  app.add_option("--job", job_path,
                 "Job file (JSON with the options of pgan train), for mpirun");
  app.add_option("--resume", resume,
                 "latest, auto (latest if any, else a fresh run), a run "
                 "directory or a snapshot (overrides the job's)");
  app.add_option("--coordinator", channel.address,
                 "Join the pool of this coordinator (HOST:PORT)")
      ->envname("PGAN_COORDINATOR");
  app.add_option("--token-file", token_file,
                 "File with the token (default: $PGAN_TOKEN): the worker "
                 "token for a pool worker, a user token with --job");
  app.add_option("--hostname", agent.hostname,
                 "Host name or address the gang's peers reach this worker at")
      ->capture_default_str();
  app.add_option("--gpus", agent.gpus,
                 "GPUs this worker offers (0 or 1; pin one with "
                 "CUDA_VISIBLE_DEVICES)")
      ->capture_default_str();
  app.add_option("--cpu-slots", agent.cpu_slots, "Cores this worker offers")
      ->capture_default_str();
  app.add_option("--worker-id", agent.worker_id,
                 "Register under this id (a restarted worker)");
  app.add_option("--comm-timeout", comm_timeout_s,
                 "Seconds a collective waits for a silent peer")
      ->capture_default_str();
  std::string health_listen;
  app.add_option("--health-listen", health_listen,
                 "Pool worker: IP:PORT of /healthz (the agent runs) and "
                 "/readyz (registered, heartbeats answered); port 0: any");
  app.add_option("--tls-ca", channel.tls_ca,
                 "PEM of the CA that signed the coordinator's certificate");
  app.add_option("--tls-cert", channel.tls_cert,
                 "PEM client certificate (mutual TLS)");
  app.add_option("--tls-key", channel.tls_key, "PEM key of --tls-cert");
  bool dry_run = false;
  app.add_flag("-n,--dry-run", dry_run,
               "With --job: print the job's validated training options and "
               "exit");
  app.add_option("--task", task, "(internal) run one assignment from stdin")
      ->group("");
  app.add_option("--report-fd", report_fd, "(internal)")->group("");
  CLI11_PARSE(app, argc, argv);

  if (!task.empty() || !channel.address.empty()) {
    std::signal(SIGINT, HandleStop);
    std::signal(SIGTERM, HandleStop);
  }
  if (!health_listen.empty() &&
      (!task.empty() || !job_path.empty() || channel.address.empty())) {
    std::cerr << "pgan-worker: --health-listen is for a pool worker "
                 "(--coordinator without --job)\n";
    return 2;
  }
  if (!task.empty()) {
    pgan::worker::PoolTaskOptions options;
    options.worker_id = agent.worker_id;
    options.hostname = agent.hostname;
    options.cpu_slots = agent.cpu_slots;
    options.comm_timeout = absl::Seconds(comm_timeout_s);
    options.report_fd = report_fd;
    options.fallback_stats_cache = pgan::trainer::StatisticsCache::InUserCache(
        std::getenv("XDG_CACHE_HOME"), std::getenv("HOME"));
    return RunTask(channel, options);
  }
  if (!job_path.empty()) {
    return RunMpiJob(job_path, resume, channel, token_file, dry_run);
  }
  if (!channel.address.empty()) {
    if (!ReadToken(token_file, &agent.token)) {
      std::cerr << "pgan-worker: --token-file " << token_file
                << ": cannot read it\n";
      return 2;
    }
    if (!(comm_timeout_s > 0)) {
      std::cerr << "pgan-worker: --comm-timeout must be positive\n";
      return 2;
    }
    agent.channel = channel;
    agent.comm_timeout = absl::Seconds(comm_timeout_s);
    pgan::worker::AgentHealth health;
    std::unique_ptr<pgan::rpc::HttpServer> health_server;
    if (!health_listen.empty()) {
      auto started = pgan::rpc::HttpServer::Start(
          health_listen,
          {{"/healthz", [&health] { return health.Liveness(); }},
           {"/readyz", [&health] { return health.Readiness(); }}});
      if (!started.ok()) {
        std::cerr << "pgan-worker: --health-listen: "
                  << started.status().message() << "\n";
        return 2;
      }
      health_server = std::move(*started);
      std::cout << "pgan-worker: /healthz and /readyz on port "
                << health_server->port() << std::endl;
    }
    std::error_code ec;
    agent.executable = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) agent.executable = "/proc/self/exe";
    const absl::Status status =
        pgan::worker::RunPoolAgent(agent, &g_stop, std::cout, &health);
    if (!status.ok()) {
      std::cerr << "pgan-worker: " << status.message() << "\n";
      return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    return 0;
  }
  std::cerr << "pgan-worker: give --job FILE (under mpirun), --coordinator "
               "HOST:PORT (a pool worker), or both (an mpirun job that "
               "reports to the coordinator)\n";
  return 2;
}
