// pgan-coordinator: the training service's control plane.
//
//   pgan-coordinator --state /var/lib/pgan/state.db --tokens tokens.txt
//       --storage /shared/runs --data-root /data --listen 0.0.0.0:7470
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "common/file_util.h"
#include "services/coordinator.h"

int main(int argc, char** argv) {
  CLI::App app{"pgan-coordinator: schedules and tracks pgan training jobs"};
  pgan::services::CoordinatorConfig config;
  std::string port_file;
  app.add_option("--listen", config.listen,
                 "host:port to serve on (port 0: any free one)")
      ->capture_default_str();
  app.add_option("--state", config.state_path,
                 "SQLite state database (created if missing)")
      ->required();
  app.add_option("--tokens", config.tokens_path,
                 "Token file: lines of 'name role sha256(token)'")
      ->required();
  app.add_option("--data-root", config.roots.data,
                 "Directory job datasets may come from (repeatable)");
  app.add_option("--output-root", config.roots.output,
                 "Directory job outputs may go to (repeatable)");
  app.add_option("--storage", config.storage_dir,
                 "Run directories of jobs without an output_dir (shared by all "
                 "workers)")
      ->required();
  double heartbeat_timeout_s = 10;
  app.add_option(
         "--heartbeat-timeout", heartbeat_timeout_s,
         "Seconds without a heartbeat before a worker's gang is restarted")
      ->capture_default_str();
  app.add_option("--max-rpc-threads", config.max_rpc_threads,
                 "Threads serving RPCs; calls beyond them are answered "
                 "RESOURCE_EXHAUSTED and retried by clients")
      ->capture_default_str();
  app.add_option("--max-heartbeat-rate", config.scheduling.max_heartbeat_rate,
                 "Heartbeats per second the whole pool may send: a larger "
                 "pool is told to beat less often, and its heartbeat timeout "
                 "grows in proportion (0: no bound)")
      ->capture_default_str();
  config.metrics_listen = "127.0.0.1:9470";
  app.add_option("--metrics-listen", config.metrics_listen,
                 "host:port of the Prometheus /metrics endpoint (empty: none)")
      ->capture_default_str();
  app.add_option("--web-listen", config.web_listen,
                 "host:port of the HTTP/JSON API and the web console (port 0: "
                 "any free one; empty: none)");
  app.add_option("--web-root", config.web_root,
                 "Directory of the web console's built files (tools/dev.sh "
                 "web); without it, the API alone");
  app.add_option("--web-max-streams", config.web_max_streams,
                 "Open consoles (event streams) at once; more are told to "
                 "retry")
      ->capture_default_str();
  std::string web_port_file;
  app.add_option("--web-port-file", web_port_file,
                 "Write the web port to this file");
  app.add_option("--port-file", port_file,
                 "Write the port served on to this file");
  app.add_option("--tls-cert", config.tls_cert,
                 "PEM certificate chain of this server (enables TLS)");
  app.add_option("--tls-key", config.tls_key, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", config.tls_client_ca,
                 "PEM CA of worker client certificates (mutual TLS for the "
                 "worker API)");
  CLI11_PARSE(app, argc, argv);
  if (!(heartbeat_timeout_s > 0)) {
    std::cerr << "pgan-coordinator: --heartbeat-timeout must be positive\n";
    return 2;
  }
  if (config.scheduling.max_heartbeat_rate < 0) {
    std::cerr << "pgan-coordinator: --max-heartbeat-rate must be >= 0\n";
    return 2;
  }
  config.scheduling.heartbeat_timeout = absl::Seconds(heartbeat_timeout_s);

  // SIGINT/SIGTERM end the server from a thread of its own (sigwait).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto coordinator = pgan::services::Coordinator::Start(config);
  if (!coordinator.ok()) {
    std::cerr << "pgan-coordinator: " << coordinator.status().message() << "\n";
    return coordinator.status().code() == absl::StatusCode::kInvalidArgument
               ? 2
               : 1;
  }
  if (!port_file.empty()) {
    const absl::Status written = pgan::WriteFileAtomically(
        port_file, std::to_string((*coordinator)->port()) + "\n");
    if (!written.ok()) {
      std::cerr << "pgan-coordinator: " << written.message() << "\n";
      return 1;
    }
  }
  if (!web_port_file.empty()) {
    const absl::Status written = pgan::WriteFileAtomically(
        web_port_file, std::to_string((*coordinator)->web_port()) + "\n");
    if (!written.ok()) {
      std::cerr << "pgan-coordinator: " << written.message() << "\n";
      return 1;
    }
  }
  std::cout << "pgan-coordinator: serving on port " << (*coordinator)->port();
  if ((*coordinator)->metrics_port() != 0) {
    std::cout << ", /metrics on port " << (*coordinator)->metrics_port();
  }
  if ((*coordinator)->web_port() != 0) {
    std::cout << ", the web console on port " << (*coordinator)->web_port();
  }
  std::cout << std::endl;
  std::thread stopper([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    std::cout << "pgan-coordinator: signal " << signal << ", shutting down"
              << std::endl;
    (*coordinator)->Shutdown();
  });
  (*coordinator)->Wait();
  stopper.detach();
  return 0;
}
