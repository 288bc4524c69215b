// The communicator of a job of one process: collectives have nothing to
// combine (sums and broadcasts leave the data as it is), Abort() exits.
// Thread-compatible.
#ifndef PGAN_WORKER_LOCAL_COMMUNICATOR_H_
#define PGAN_WORKER_LOCAL_COMMUNICATOR_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "worker/communicator.h"

namespace pgan::comm {

class LocalCommunicator final : public Communicator {
 public:
  LocalCommunicator() = default;
  LocalCommunicator(const LocalCommunicator&) = delete;
  LocalCommunicator& operator=(const LocalCommunicator&) = delete;

  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  Backend backend() const override { return Backend::kLocal; }

  absl::Status AllReduceSum(float* data, size_t count) override;
  absl::Status AllReduceSum(double* data, size_t count) override;
  absl::Status Broadcast(void* data, size_t bytes, int root) override;
  absl::Status BroadcastHost(void* data, size_t bytes, int root) override;
  absl::Status AllGatherHost(uint64_t value, uint64_t* out) override;
  absl::Status Barrier() override;
  [[noreturn]] void Abort(const std::string& reason, int exit_code) override;
};

}  // namespace pgan::comm

#endif  // PGAN_WORKER_LOCAL_COMMUNICATOR_H_
