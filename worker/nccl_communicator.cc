#include "worker/nccl_communicator.h"

#include <cstdio>
#include <utility>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/check.h"
#include "worker/deadline_poller.h"

#if NCCL_VERSION_CODE < NCCL_VERSION(2, 14, 0)
#error "The NCCL backend needs NCCL 2.14 or newer (non-blocking communicators)"
#endif

namespace pgan::comm {
namespace {

// A GPU collective is polled without pause for its first 10 ms (most are
// shorter; the CPU has nothing else to do meanwhile), then with sleeps of
// at most 100 us.
constexpr absl::Duration kStreamSpin = absl::Milliseconds(10);
constexpr absl::Duration kStreamMaxSleep = absl::Microseconds(100);

// The ranks whose flag is 0, as "1, 3".
std::string FailedRanks(const std::vector<uint64_t>& ok) {
  std::vector<int> failed;
  for (size_t r = 0; r < ok.size(); ++r) {
    if (ok[r] == 0) failed.push_back(static_cast<int>(r));
  }
  return absl::StrJoin(failed, ", ");
}

}  // namespace

NcclCommunicator::NcclCommunicator(const CommConfig& config,
                                   std::unique_ptr<Communicator> host)
    : config_(config), host_(std::move(host)) {}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    const CommConfig& config) {
  RETURN_IF_ERROR(config.Validate());
  ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> mpi,
                   MpiCommunicator::Create(config));
  return Create(config, std::move(mpi));
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    const CommConfig& config, std::unique_ptr<Communicator> host) {
  RETURN_IF_ERROR(config.Validate());
  auto comm = absl::WrapUnique(new NcclCommunicator(config, std::move(host)));
  const int world_size = comm->world_size();

  // Every rank must enter ncclCommInitRank or none: one that could not set
  // up its device would leave the others waiting there.
  const absl::Status device = comm->SetUpDevice();
  std::vector<uint64_t> ok(world_size);
  RETURN_IF_ERROR(comm->host_->AllGatherHost(device.ok() ? 1 : 0, ok.data()));
  if (!device.ok()) return device;
  if (const std::string failed = FailedRanks(ok); !failed.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "NCCL not initialised: rank(s) ", failed,
        " could not set up their CUDA device (see their messages)"));
  }

  // A failed or timed-out initialisation aborts the NCCL communicator.
  const absl::Status init = comm->Fail(comm->InitNccl());
  RETURN_IF_ERROR(comm->host_->AllGatherHost(init.ok() ? 1 : 0, ok.data()));
  if (!init.ok()) return init;
  if (const std::string failed = FailedRanks(ok); !failed.empty()) {
    comm->AbortNccl();
    return absl::FailedPreconditionError(absl::StrCat(
        "NCCL initialisation failed on rank(s) ", failed,
        " (see their messages); aborted the NCCL communicator here too"));
  }
  return comm;
}

absl::Status NcclCommunicator::SetUpDevice() {
  int count = 0;
  PGAN_CUDA_CHECK(cudaGetDeviceCount(&count));
  const int device = config_.device >= 0 ? config_.device : local_rank();
  if (device >= count) {
    return absl::FailedPreconditionError(absl::StrCat(
        "rank ", rank(), " (local rank ", local_rank(), ") needs CUDA device ",
        device, " but sees ", count,
        " device(s): start at most one rank per GPU on each host"));
  }
  PGAN_CUDA_CHECK(cudaSetDevice(device));
  // Blocking with respect to the legacy default stream (see the header).
  PGAN_CUDA_CHECK(cudaStreamCreate(&stream_));
  return absl::OkStatus();
}

absl::Status NcclCommunicator::InitNccl() {
  // Rank 0's id goes to everyone, with a flag saying whether it has one.
  struct IdMessage {
    uint64_t ok;
    ncclUniqueId id;
  };
  IdMessage message{};
  absl::Status id_status;
  if (rank() == 0) {
    id_status = [&]() -> absl::Status {
      PGAN_NCCL_CHECK(ncclGetUniqueId(&message.id));
      return absl::OkStatus();
    }();
    message.ok = id_status.ok() ? 1 : 0;
  }
  RETURN_IF_ERROR(host_->BroadcastHost(&message, sizeof(message), /*root=*/0));
  if (!id_status.ok()) return id_status;
  if (message.ok == 0) {
    return absl::FailedPreconditionError(
        "rank 0 could not create the NCCL unique id (see its messages)");
  }

  ncclConfig_t nccl_config = NCCL_CONFIG_INITIALIZER;
  nccl_config.blocking = 0;
  PGAN_NCCL_CHECK(ncclCommInitRankConfig(&comm_, world_size(), message.id,
                                         rank(), &nccl_config));
  return WaitForNccl("ncclCommInitRankConfig", /*stream=*/false);
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ != nullptr && !nccl_aborted_.load()) {
    absl::Status status = [&]() -> absl::Status {
      PGAN_NCCL_CHECK(ncclCommFinalize(comm_));
      RETURN_IF_ERROR(WaitForNccl("ncclCommFinalize", /*stream=*/true));
      PGAN_NCCL_CHECK(ncclCommDestroy(comm_));
      comm_ = nullptr;
      return absl::OkStatus();
    }();
    if (!status.ok()) {
      std::fprintf(stderr, "[pgan rank %d] NCCL shutdown: %s\n", rank(),
                   std::string(status.message()).c_str());
      AbortNccl();
    }
  }
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  // host_ goes last (its destructor waits for every rank).
}

absl::Status NcclCommunicator::CheckUsable() const {
  if (comm_ == nullptr || nccl_aborted_.load()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the NCCL communicator was aborted after an earlier failure: ",
        broken_.message()));
  }
  return absl::OkStatus();
}

void NcclCommunicator::AbortNccl() {
  if (comm_ != nullptr && !nccl_aborted_.exchange(true)) {
    ncclCommAbort(comm_);
  }
}

absl::Status NcclCommunicator::Fail(absl::Status status) {
  if (!status.ok()) {
    AbortNccl();
    if (broken_.ok()) broken_ = status;
  }
  return status;
}

absl::Status NcclCommunicator::WaitForNccl(const std::string& what,
                                           bool stream) {
  DeadlinePoller poller(config_.timeout, kStreamSpin, kStreamMaxSleep);
  while (true) {
    ncclResult_t async = ncclSuccess;
    PGAN_NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess && async != ncclInProgress) {
      return internal::NcclError(
          absl::StrCat(what, " (asynchronous error on rank ", rank(), ")")
              .c_str(),
          __FILE__, __LINE__, async);
    }
    if (async == ncclSuccess) {
      if (!stream) return absl::OkStatus();
      const cudaError_t query = cudaStreamQuery(stream_);
      if (query == cudaSuccess) return absl::OkStatus();
      if (query != cudaErrorNotReady) {
        return internal::CudaError(
            absl::StrCat("cudaStreamQuery after ", what).c_str(), __FILE__,
            __LINE__, query);
      }
    }
    if (!poller.Wait()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "rank ", rank(), ": ", what, " did not complete within ",
          FormatSeconds(config_.timeout),
          "; aborted the NCCL communicator. NCCL cannot tell which rank is "
          "missing: look for the rank that did not reach this collective "
          "(its log, or the MPI watchdog's message)"));
    }
  }
}

absl::Status NcclCommunicator::AllReduceSum(float* data, size_t count) {
  RETURN_IF_ERROR(CheckUsable());
  if (data == nullptr && count > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllReduceSum: null buffer for ", count, " floats"));
  }
  return Fail(RunAllReduce(data, count, ncclFloat, next_seq_++));
}

absl::Status NcclCommunicator::AllReduceSum(double* data, size_t count) {
  RETURN_IF_ERROR(CheckUsable());
  if (data == nullptr && count > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllReduceSum: null buffer for ", count, " doubles"));
  }
  return Fail(RunAllReduce(data, count, ncclFloat64, next_seq_++));
}

absl::Status NcclCommunicator::RunAllReduce(void* data, size_t count,
                                            ncclDataType_t type, uint64_t seq) {
  PGAN_NCCL_CHECK(
      ncclAllReduce(data, data, count, type, ncclSum, comm_, stream_));
  return WaitForNccl(
      absl::StrCat("NCCL collective #", seq, " (AllReduceSum of ", count,
                   type == ncclFloat64 ? " doubles)" : " floats)"),
      /*stream=*/true);
}

absl::Status NcclCommunicator::Broadcast(void* data, size_t bytes, int root) {
  RETURN_IF_ERROR(CheckUsable());
  if (data == nullptr && bytes > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Broadcast: null buffer for ", bytes, " bytes"));
  }
  if (root < 0 || root >= world_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Broadcast: root ", root, " is not a rank of a job of ", world_size()));
  }
  return Fail(RunBroadcast(data, bytes, root, next_seq_++));
}

absl::Status NcclCommunicator::RunBroadcast(void* data, size_t bytes, int root,
                                            uint64_t seq) {
  PGAN_NCCL_CHECK(
      ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_));
  return WaitForNccl(absl::StrCat("NCCL collective #", seq, " (Broadcast of ",
                                  bytes, " bytes from rank ", root, ")"),
                     /*stream=*/true);
}

absl::Status NcclCommunicator::BroadcastHost(void* data, size_t bytes,
                                             int root) {
  return host_->BroadcastHost(data, bytes, root);
}

absl::Status NcclCommunicator::AllGatherHost(uint64_t value, uint64_t* out) {
  return host_->AllGatherHost(value, out);
}

absl::Status NcclCommunicator::Barrier() { return host_->Barrier(); }

void NcclCommunicator::Abort(const std::string& reason, int exit_code) {
  AbortNccl();
  host_->Abort(reason, exit_code);
}

}  // namespace pgan::comm
