// The MPI backend: every rank of MPI_COMM_WORLD (a duplicate of it), host
// buffers, and a watchdog that turns a missing rank into a clean end of the
// job instead of a hang.
//
// Every collective starts with an arrival check: each rank tells rank 0
// (non-blocking send of 32 bytes) that it reached collective #k and what it
// called; rank 0 waits for all of them, polling with short sleeps, then
// releases everyone with a non-blocking broadcast of 8 bytes. The data
// transfer that follows uses MPI's blocking collectives (MPI_Allreduce,
// MPI_Bcast, MPI_Allgather: Open MPI's tuned algorithms, up to twice as fast
// as its non-blocking ones) under a watchdog thread that aborts the job if
// the transfer outlives the timeout. The cost is one extra small round
// trip per collective (tens of microseconds on a cluster network, a few on
// one host), and rank 0 receives world_size - 1 small messages each time:
// fuse small tensors into few large collectives. Barrier() is the arrival
// check alone.
//
// When a rank does not arrive within `CommConfig::timeout` of rank 0's own
// arrival, rank 0 prints which ranks are missing (host and pid), e.g.
//   rank 1 (pid 4242 on node7) did not reach collective #57 (AllReduceSum)
//   within 60 s; aborting the job
// and calls MPI_Abort(MPI_COMM_WORLD, kWatchdogExitCode), so mpirun tears
// the job down. The other ranks wait for rank 0's release a little longer
// (timeout + a quarter of it, at least 1 s and at most 10 s more) so that
// rank 0's message wins while rank 0 is alive; then they abort naming rank
// 0. Ranks that call different collectives at the same point (or different
// sizes or roots) are found at once by rank 0, which aborts naming both
// calls. A data transfer that stalls after every rank arrived (a rank died
// within that window) aborts after the timeout. The watchdog runs only
// inside collectives: a rank 0 stuck elsewhere is found by the others.
//
// Thread-compatible: one thread issues the collectives. Abort() may be
// called from any thread (MPI_THREAD_MULTIPLE; the constructor asks for it
// and accepts MPI_THREAD_SERIALIZED, where Abort must come from that
// thread).
#ifndef PGAN_WORKER_MPI_COMMUNICATOR_H_
#define PGAN_WORKER_MPI_COMMUNICATOR_H_

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/communicator.h"
#include "worker/transfer_watchdog.h"

namespace pgan::comm {

class MpiCommunicator final : public Communicator {
 public:
  // Initialises MPI if nobody has (MPI_Init_thread), duplicates
  // MPI_COMM_WORLD, finds the local rank (MPI_Comm_split_type, shared
  // memory) and gathers every rank's host and pid for the watchdog's
  // messages. Blocks until every rank has called it. `config.backend` is
  // not looked at (the NCCL backend owns one of these for host collectives).
  static absl::StatusOr<std::unique_ptr<MpiCommunicator>> Create(
      const CommConfig& config);

  // A collective: waits (with the watchdog) until every rank destroys its
  // communicator, then frees it and, with the last MPI-based communicator
  // of the process, finalises MPI if Create initialised it.
  ~MpiCommunicator() override;

  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  int local_rank() const override { return local_rank_; }
  Backend backend() const override { return Backend::kMpi; }

  // Host memory. A timeout aborts the job (these do not return then);
  // errors that MPI returns come back as a Status.
  absl::Status AllReduceSum(float* data, size_t count) override;
  absl::Status AllReduceSum(double* data, size_t count) override;
  absl::Status Broadcast(void* data, size_t bytes, int root) override;
  absl::Status BroadcastHost(void* data, size_t bytes, int root) override;
  absl::Status AllGatherHost(uint64_t value, uint64_t* out) override;
  absl::Status Barrier() override;
  // Prints "[pgan rank R] aborting: <reason>" to stderr, then
  // MPI_Abort(MPI_COMM_WORLD, exit_code).
  [[noreturn]] void Abort(const std::string& reason, int exit_code) override;

  // How long a rank other than 0 waits for rank 0's release.
  static absl::Duration ReleaseTimeout(absl::Duration timeout);

 private:
  // What a rank called, sent to rank 0 in the arrival check.
  enum class Op : uint64_t {
    kInit = 1,
    kAllReduceSum,
    kBroadcast,
    kBroadcastHost,
    kAllGatherHost,
    kBarrier,
    kShutdown,
    kAllReduceSumF64,
  };
  struct Collective {
    uint64_t seq = 0;  // #k: the k-th collective of this communicator.
    Op op = Op::kBarrier;
    uint64_t size = 0;  // Elements (all-reduces) or bytes (broadcasts).
    int root = -1;      // Broadcasts only.
  };
  static const char* OpName(Op op);
  static std::string Describe(Op op, uint64_t size, int root);

  explicit MpiCommunicator(const CommConfig& config);
  absl::Status Init();
  absl::Status GatherIdentities();

  Collective Begin(Op op, uint64_t size, int root);
  // The arrival check: returns once every rank has reached `c`; aborts the
  // job when one does not in time or calls something else.
  absl::Status WaitForArrivals(const Collective& c);
  absl::Status WaitForArrivalsAtRoot(const Collective& c);
  absl::Status WaitForRelease(const Collective& c);
  // Polls a started data transfer of `c` until it completes; aborts the job
  // after the timeout.
  absl::Status WaitForTransfer(const Collective& c, MPI_Request* request);
  absl::Status BroadcastBytes(Op op, void* data, size_t bytes, int root);
  // `element` bytes per element of `type` (MPI_FLOAT or MPI_DOUBLE).
  absl::Status AllReduce(Op op, void* data, size_t count, MPI_Datatype type,
                         size_t element);

  // The message of a transfer that did not complete in time.
  std::string TransferStalled(const Collective& c) const;
  // The transfer watchdog's action, on its thread.
  [[noreturn]] void AbortFromWatchdog(const std::string& message);

  // "rank 1 (pid 4242 on node7)".
  std::string DescribeRank(int rank) const;
  [[noreturn]] void AbortJob(const std::string& message);

  const CommConfig config_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
  bool counted_ = false;  // Holds a reference on the process's MPI.
  bool ready_ = false;    // Init() completed: the destructor synchronises.
  uint64_t next_seq_ = 0;
  std::vector<std::string> identities_;  // "pid 4242 on node7" per rank.
  bool thread_multiple_ = false;  // MPI_THREAD_MULTIPLE: Abort from any thread.
  std::unique_ptr<TransferWatchdog> watchdog_;
};

}  // namespace pgan::comm

#endif  // PGAN_WORKER_MPI_COMMUNICATOR_H_
