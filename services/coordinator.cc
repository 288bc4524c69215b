#include "services/coordinator.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pgan::services {

absl::Status CoordinatorConfig::Validate() const {
  if (listen.empty())
    return absl::InvalidArgumentError("--listen: expected host:port");
  if (state_path.empty()) {
    return absl::InvalidArgumentError(
        "--state: the state database path is required");
  }
  if (tokens_path.empty()) {
    return absl::InvalidArgumentError("--tokens: the token file is required");
  }
  if (roots.data.empty()) {
    return absl::InvalidArgumentError(
        "--data-root: at least one directory that job datasets may come from");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(
    const CoordinatorConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  std::unique_ptr<Coordinator> c(new Coordinator);
  ASSIGN_OR_RETURN(c->store_, StateStore::Open(config.state_path));
  ASSIGN_OR_RETURN(TokenAuthenticator auth,
                   TokenAuthenticator::FromFile(config.tokens_path));
  c->auth_ = std::make_unique<TokenAuthenticator>(std::move(auth));
  c->jobs_ = std::make_unique<JobServiceImpl>(c->store_.get(), c->auth_.get(),
                                              config.roots);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(),
                           &c->port_);
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
  builder.RegisterService(c->jobs_.get());
  c->server_ = builder.BuildAndStart();
  if (c->server_ == nullptr || c->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen,
                     " (in use, or not an address of this host)"));
  }
  return c;
}

Coordinator::~Coordinator() { Shutdown(); }

void Coordinator::Wait() {
  if (server_ != nullptr) server_->Wait();
}

void Coordinator::Shutdown() {
  if (server_ != nullptr) server_->Shutdown();
}

}  // namespace pgan::services
