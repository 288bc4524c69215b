// The NCCL backend: one NCCL communicator per job over all ranks, one CUDA
// device per rank (CommConfig::device), bootstrapped over a host
// communicator (rank 0's ncclUniqueId goes out with its BroadcastHost),
// which also carries the host collectives (BroadcastHost, AllGatherHost,
// Barrier): MPI with its watchdog under mpirun, Gloo in gangs the
// coordinator formed (its rendezvous went through the coordinator).
//
// AllReduceSum and Broadcast take device pointers, run on this
// communicator's own CUDA stream and return once the result is on the
// device. The stream is a blocking one: it waits for work queued before on
// the legacy default stream (where LibTorch queues by default); a caller
// that uses other streams synchronises them before the call. The wait is a
// watchdog: it polls cudaStreamQuery and ncclCommGetAsyncError with short
// sleeps for up to CommConfig::timeout. On a timeout, an NCCL error or a CUDA
// error the NCCL communicator is aborted (ncclCommAbort) and the call fails
// (DEADLINE_EXCEEDED for a timeout); every later NCCL collective fails with
// FAILED_PRECONDITION, and the caller ends the job with Abort(). NCCL cannot
// tell which rank is missing: the message says so, and the MPI watchdog of
// the host collectives names ranks that stopped. The NCCL communicator is
// non-blocking (ncclConfig_t::blocking = 0), so that initialisation and
// shutdown are watched too.
//
// Thread-compatible: one thread issues the collectives; Abort() may be
// called from any thread.
#ifndef PGAN_WORKER_NCCL_COMMUNICATOR_H_
#define PGAN_WORKER_NCCL_COMMUNICATOR_H_

#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/communicator.h"
#include "worker/mpi_communicator.h"

namespace pgan::comm {

class NcclCommunicator final : public Communicator {
 public:
  // Creates the MPI communicator, selects config.device, creates the stream
  // and the NCCL communicator. Every rank gets the same outcome: a rank
  // whose device fails makes every rank fail before NCCL is initialised.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(
      const CommConfig& config);
  // The same over an existing host communicator (Gloo for pool gangs).
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(
      const CommConfig& config, std::unique_ptr<Communicator> host);

  // Finalises the NCCL communicator (watched; aborted on timeout), destroys
  // the stream, then the host communicator (a collective).
  ~NcclCommunicator() override;

  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }
  int local_rank() const override { return host_->local_rank(); }
  Backend backend() const override { return Backend::kNccl; }

  // Device memory.
  absl::Status AllReduceSum(float* data, size_t count) override;
  absl::Status AllReduceSum(double* data, size_t count) override;
  absl::Status Broadcast(void* data, size_t bytes, int root) override;
  // Host memory, over the host communicator.
  absl::Status BroadcastHost(void* data, size_t bytes, int root) override;
  absl::Status AllGatherHost(uint64_t value, uint64_t* out) override;
  absl::Status Barrier() override;
  // Aborts the NCCL communicator, then the host communicator's job.
  [[noreturn]] void Abort(const std::string& reason, int exit_code) override;

  // The stream the NCCL collectives run on.
  cudaStream_t stream() const { return stream_; }

 private:
  NcclCommunicator(const CommConfig& config,
                   std::unique_ptr<Communicator> host);
  absl::Status SetUpDevice();
  absl::Status InitNccl();
  // `type`: ncclFloat or ncclFloat64.
  absl::Status RunAllReduce(void* data, size_t count, ncclDataType_t type,
                            uint64_t seq);
  absl::Status RunBroadcast(void* data, size_t bytes, int root, uint64_t seq);
  // Waits until NCCL has no operation in progress on the communicator
  // (non-blocking init, enqueue, finalise) and, with `stream`, until the
  // stream is idle. `what` names the operation in errors.
  absl::Status WaitForNccl(const std::string& what, bool stream);
  // A failed collective leaves the communicator unusable: aborts it and
  // remembers why.
  absl::Status Fail(absl::Status status);
  absl::Status CheckUsable() const;
  void AbortNccl();

  const CommConfig config_;
  std::unique_ptr<Communicator> host_;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  std::atomic<bool> nccl_aborted_{false};
  absl::Status broken_;  // Why the communicator was aborted; OK while usable.
  uint64_t next_seq_ = 1;
};

}  // namespace pgan::comm

#endif  // PGAN_WORKER_NCCL_COMMUNICATOR_H_
