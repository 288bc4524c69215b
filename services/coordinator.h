// The coordinator process's server: opens the state database and the token
// file, and serves JobService on the configured address. Thread-safe.
#ifndef PGAN_SERVICES_COORDINATOR_H_
#define PGAN_SERVICES_COORDINATOR_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/auth.h"
#include "services/job_service.h"
#include "services/job_spec_validation.h"
#include "services/state_store.h"

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
  // Blocks until Shutdown() (from another thread or a signal handler's
  // thread).
  void Wait();
  void Shutdown();

 private:
  Coordinator() = default;

  std::unique_ptr<StateStore> store_;
  std::unique_ptr<TokenAuthenticator> auth_;
  std::unique_ptr<JobServiceImpl> jobs_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace pgan::services

#endif  // PGAN_SERVICES_COORDINATOR_H_
