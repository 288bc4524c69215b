// The communication layer of a training job: one process per GPU or CPU
// slot, all in one communicator. Framework-free (raw buffers, no LibTorch),
// so the same interface serves the MPI backend (host memory; CPU training
// and HPC clusters), the NCCL backend (device memory) and one process alone.
// Every collective is called by every rank in the same order with the same
// sizes. A collective that does not complete within the configured timeout
// does not hang: the MPI backend aborts the job with a message naming the
// ranks that did not arrive; the NCCL backend aborts its NCCL communicator
// and fails with a Status (NCCL cannot tell which rank is missing).
// Thread-compatible: one thread issues collectives; Abort() may be called
// from any thread.
#ifndef PGAN_WORKER_COMMUNICATOR_H_
#define PGAN_WORKER_COMMUNICATOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace pgan::comm {

enum class Backend {
  kLocal,  // One process.
  kMpi,    // MPI_COMM_WORLD, host buffers.
  kNccl,   // NCCL on CUDA device buffers, bootstrapped over MPI or Gloo.
  kGloo,   // Gloo over TCP, host buffers: gangs formed by the coordinator.
};

// "local", "mpi", "nccl", "gloo" (the names job files and flags use).
absl::string_view BackendName(Backend backend);
// The inverse of BackendName; INVALID_ARGUMENT names the accepted values.
absl::StatusOr<Backend> ParseBackend(absl::string_view name);

// The exit status of a job that the communicator's watchdog ends (a rank
// missing at a collective, ranks calling different collectives), as
// coreutils' timeout(1) uses it. mpirun exits with it too.
inline constexpr int kWatchdogExitCode = 124;

struct CommConfig {
  Backend backend = Backend::kLocal;
  // How long a rank waits for the others at a collective before declaring
  // them missing and aborting the job. Several times the longest iteration
  // (and the longest pause between collectives: snapshots, evaluation).
  // Positive and finite.
  absl::Duration timeout = absl::Seconds(60);
  // NCCL: the CUDA device of this rank; -1 (the default) picks the local
  // rank, one GPU per process on each host.
  int device = -1;

  absl::Status Validate() const;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Rank among the processes of this host (to pick a GPU).
  virtual int local_rank() const = 0;
  virtual Backend backend() const = 0;

  // Sums `count` floats over all ranks, in place. NCCL: a device pointer.
  virtual absl::Status AllReduceSum(float* data, size_t count) = 0;
  // The same in float64 (--world-invariant's sums, whose rounding then
  // hardly depends on the order in which ranks are added).
  virtual absl::Status AllReduceSum(double* data, size_t count) = 0;
  // Copies `bytes` from `root` to every rank, in place (host memory for
  // MPI, device memory for NCCL).
  virtual absl::Status Broadcast(void* data, size_t bytes, int root) = 0;
  // Host-memory broadcast for small control data, on every backend.
  virtual absl::Status BroadcastHost(void* data, size_t bytes, int root) = 0;
  // Gathers one 64-bit value per rank to every rank (host memory):
  // `out` receives world_size() values, rank r's at out[r].
  virtual absl::Status AllGatherHost(uint64_t value, uint64_t* out) = 0;
  virtual absl::Status Barrier() = 0;

  // Ends the job: prints `reason` to stderr, aborts the communicator and
  // makes the launcher tear down the other ranks; this process exits with
  // `exit_code`. Does not return.
  [[noreturn]] virtual void Abort(const std::string& reason, int exit_code) = 0;
};

// Creates the communicator of this process (after config.Validate()). MPI
// and NCCL need the process started by mpirun (or another MPI launcher;
// started alone it is a job of one rank), block until every rank has called
// this. MPI is initialised by the first MPI-based communicator of the
// process and finalised when the last one is destroyed; it cannot be
// initialised again after that (FAILED_PRECONDITION). NCCL: UNIMPLEMENTED
// when pgan was built without CUDA and NCCL.
absl::StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(
    const CommConfig& config);

}  // namespace pgan::comm

#endif  // PGAN_WORKER_COMMUNICATOR_H_
