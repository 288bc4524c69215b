// The coordinator process's server: opens the state database and the token
// file, serves JobService and WorkerService on the configured address, and
// runs the scheduler's clock (heartbeat timeouts, scheduling) every second.
// Thread-safe.
#ifndef PGAN_SERVICES_COORDINATOR_H_
#define PGAN_SERVICES_COORDINATOR_H_

#include <grpcpp/server.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/http_server.h"
#include "services/auth.h"
#include "services/change_feed.h"
#include "services/completion_loop.h"
#include "services/job_service.h"
#include "services/job_spec_validation.h"
#include "services/metrics.h"
#include "services/scheduler.h"
#include "services/state_store.h"
#include "services/web_api.h"
#include "services/worker_service.h"

namespace pgan::services {

struct CoordinatorConfig {
  // host:port to listen on; port 0 picks a free one (see Coordinator::port).
  std::string listen = "127.0.0.1:7470";
  // The SQLite state database (created if missing).
  std::string state_path;
  // The token file (see auth.h).
  std::string tokens_path;
  // Where job datasets may be read and outputs written.
  PathRoots roots;
  // Run directories of jobs that name no output_dir (a shared filesystem
  // when workers run on several machines).
  std::string storage_dir;
  // Timing of the pool (heartbeats, timeouts, rendezvous).
  SchedulerOptions scheduling;
  // Threads that serve the synchronous RPCs (all but Rendezvous and
  // StoreGet, which wait without one). A call that finds them all busy is
  // answered RESOURCE_EXHAUSTED at once and its client retries after a
  // backoff: load beyond capacity is shed, not queued until the process
  // runs out of threads.
  int max_rpc_threads = 64;
  // host:port of the plain-HTTP endpoints (port 0: any free one): /metrics
  // for Prometheus, /healthz (liveness: the scheduler's clock runs) and
  // /readyz (readiness: serving, and the state database answers); empty:
  // none.
  std::string metrics_listen;
  // host:port of the HTTP/JSON API and the web console (port 0: any free
  // one; empty: none), the console's built files (empty: the API alone),
  // and how many event streams may be open at once.
  std::string web_listen;
  std::string web_root;
  int web_max_streams = 200;
  // TLS: PEM files of this server's certificate chain and key (both or
  // neither; plain text without). With tls_client_ca as well, worker RPCs
  // need a client certificate signed by that CA (mutual TLS); users
  // authenticate with their tokens alone.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;

  absl::Status Validate() const;
};

class Coordinator {
 public:
  // Opens the state and tokens, binds and starts serving. Errors name the
  // file or address.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(
      const CoordinatorConfig& config);
  ~Coordinator();

  int port() const { return port_; }
  // The /metrics, /healthz and /readyz port, 0 without one.
  int metrics_port() const { return metrics_port_; }
  // The web API's and console's port, 0 without one.
  int web_port() const { return web_port_; }
  // Blocks until Shutdown() (from another thread or a signal handler's
  // thread).
  void Wait();
  void Shutdown();

 private:
  Coordinator() = default;
  rpc::HttpResponse Liveness() const;
  rpc::HttpResponse Readiness() const;

  // Before the store, which publishes into it.
  std::unique_ptr<ChangeFeed> feed_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<TokenAuthenticator> auth_;
  std::unique_ptr<Scheduler> scheduler_;
  std::shared_ptr<CoordinatorMetrics> metrics_;
  std::unique_ptr<JobServiceImpl> jobs_;
  std::unique_ptr<WorkerServiceImpl> workers_;
  std::unique_ptr<grpc::Server> server_;
  // Drives the waiting RPCs (completion_loop.h); stopped after server_.
  std::unique_ptr<CompletionLoop> waiting_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread clock_;
  // For the probes: whether the gRPC server is up (and not shutting down),
  // and when the clock last ticked.
  std::atomic<bool> serving_{false};
  std::atomic<int64_t> clock_unix_ms_{0};
  std::unique_ptr<JobApi> web_jobs_;
  std::unique_ptr<WebApi> web_api_;
  // Last: their handlers use the members above.
  std::unique_ptr<rpc::HttpServer> http_;
  int metrics_port_ = 0;
  std::unique_ptr<rpc::HttpServer> web_http_;
  int web_port_ = 0;
};

}  // namespace pgan::services

#endif  // PGAN_SERVICES_COORDINATOR_H_
