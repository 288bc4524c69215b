#include "worker/communicator.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/local_communicator.h"
#include "worker/mpi_communicator.h"

#if PGAN_HAVE_NCCL
#include "worker/nccl_communicator.h"
#endif

namespace pgan::comm {
namespace {

#if PGAN_HAVE_NCCL
absl::StatusOr<std::unique_ptr<Communicator>> CreateNccl(
    const CommConfig& config) {
  ASSIGN_OR_RETURN(std::unique_ptr<NcclCommunicator> comm,
                   NcclCommunicator::Create(config));
  return std::unique_ptr<Communicator>(std::move(comm));
}
#else
absl::StatusOr<std::unique_ptr<Communicator>> CreateNccl(
    const CommConfig& config) {
  return absl::UnimplementedError(
      "the NCCL backend is not in this build: CMake did not find the CUDA "
      "toolkit and NCCL when pgan was configured (its output says where it "
      "looked). Use the MPI backend, or configure again with "
      "-DCUDAToolkit_ROOT=... and -DNCCL_ROOT=...");
}
#endif

}  // namespace

absl::string_view BackendName(Backend backend) {
  switch (backend) {
    case Backend::kLocal:
      return "local";
    case Backend::kMpi:
      return "mpi";
    case Backend::kNccl:
      return "nccl";
    case Backend::kGloo:
      return "gloo";
  }
  return "unknown";
}

absl::StatusOr<Backend> ParseBackend(absl::string_view name) {
  for (Backend backend :
       {Backend::kLocal, Backend::kMpi, Backend::kNccl, Backend::kGloo}) {
    if (name == BackendName(backend)) return backend;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown communication backend '", name,
                   "': expected local, mpi, nccl or gloo"));
}

absl::Status CommConfig::Validate() const {
  if (backend != Backend::kLocal && backend != Backend::kMpi &&
      backend != Backend::kNccl && backend != Backend::kGloo) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CommConfig.backend: unknown value ", static_cast<int>(backend)));
  }
  if (timeout <= absl::ZeroDuration() || timeout == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CommConfig.timeout must be positive and finite (it bounds every "
        "wait at a collective), got ",
        absl::FormatDuration(timeout)));
  }
  if (device < -1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CommConfig.device must be >= 0 (or -1 for the local rank), got ",
        device));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(
    const CommConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  switch (config.backend) {
    case Backend::kLocal:
      return std::unique_ptr<Communicator>(
          std::make_unique<LocalCommunicator>());
    case Backend::kMpi: {
      ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> comm,
                       MpiCommunicator::Create(config));
      return std::unique_ptr<Communicator>(std::move(comm));
    }
    case Backend::kNccl:
      return CreateNccl(config);
    case Backend::kGloo:
      return absl::InvalidArgumentError(
          "the Gloo backend is formed from a rendezvous store "
          "(GlooCommunicator::Create): pool workers of a coordinator use it");
  }
  return absl::InvalidArgumentError("CommConfig.backend: unknown value");
}

}  // namespace pgan::comm
