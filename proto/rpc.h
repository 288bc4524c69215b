// What every gRPC client of the coordinator needs: a channel to it (plain
// or TLS, with a client certificate for mutual TLS), the bearer token on
// each call, and gRPC's status as an absl::Status.
#ifndef PGAN_PROTO_RPC_H_
#define PGAN_PROTO_RPC_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pgan::rpc {

struct ChannelOptions {
  // HOST:PORT of the coordinator.
  std::string address;
  // TLS: the PEM file of the CA that signed the coordinator's certificate
  // (empty: plain text). With it, optionally this client's certificate and
  // key (PEM files) for coordinators that require mutual TLS.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;

  absl::Status Validate() const;
};

// Reads the PEM files; a missing or unreadable one is INVALID_ARGUMENT
// naming it.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const ChannelOptions& options);

// The contents of a PEM file; INVALID_ARGUMENT naming `flag` and the file
// when it cannot be read or holds no PEM block.
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        const char* flag);

// Adds "authorization: Bearer <token>".
void Authorize(grpc::ClientContext* context, const std::string& token);

// gRPC and Abseil share the canonical status codes: the one conversion
// each way, for clients and servers.
absl::Status FromGrpc(const grpc::Status& status);
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace pgan::rpc

#endif  // PGAN_PROTO_RPC_H_
