#include "proto/rpc.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace pgan::rpc {
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        const char* flag) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (!in || !(text << in.rdbuf()) ||
      text.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, ": expected a readable PEM file"));
  }
  return text.str();
}

absl::Status ChannelOptions::Validate() const {
  if (address.empty()) {
    return absl::InvalidArgumentError(
        "coordinator address: expected HOST:PORT (flag or PGAN_COORDINATOR)");
  }
  if (tls_ca.empty() && (!tls_cert.empty() || !tls_key.empty())) {
    return absl::InvalidArgumentError(
        "--tls-cert/--tls-key need --tls-ca (the CA of the coordinator)");
  }
  if (tls_cert.empty() != tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const ChannelOptions& options) {
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  grpc::ChannelArguments args;
  // Long runs: keep idle connections alive through NATs and proxies.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  // gRPC's reconnect backoff grows to 120 s by default: after a long
  // coordinator outage a worker would come back minutes late and its job
  // be restarted as abandoned. Capped at 5 s (gRPC jitters each wait by
  // 20%, which spreads a pool's reconnects after a restart).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  if (options.tls_ca.empty()) {
    return grpc::CreateCustomChannel(options.address,
                                     grpc::InsecureChannelCredentials(), args);
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = ReadPemFile(options.tls_ca, "--tls-ca");
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *ca;
  if (!options.tls_cert.empty()) {
    absl::StatusOr<std::string> cert =
        ReadPemFile(options.tls_cert, "--tls-cert");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPemFile(options.tls_key, "--tls-key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::CreateCustomChannel(options.address, grpc::SslCredentials(ssl),
                                   args);
}

void Authorize(grpc::ClientContext* context, const std::string& token) {
  context->AddMetadata("authorization", "Bearer " + token);
}

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace pgan::rpc
