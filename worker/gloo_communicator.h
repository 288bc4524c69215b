// The communicator of a gang that no MPI launcher started: pool workers the
// coordinator put together. Gloo over TCP (the engine LibTorch's c10d uses
// for CPU tensors): ranks exchange their endpoint addresses through a
// KeyValueStore (the coordinator's), then connect a full mesh. Host memory
// only. A peer that dies breaks its connections, so the next collective
// fails at once (UNAVAILABLE); a peer that stops answering fails it after
// the timeout (DEADLINE_EXCEEDED). After a failure the communicator is
// unusable: every later call returns the first error. Abort() exits the
// process, which closes this rank's connections and so fails the others.
#ifndef PGAN_WORKER_GLOO_COMMUNICATOR_H_
#define PGAN_WORKER_GLOO_COMMUNICATOR_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/communicator.h"
#include "worker/key_value_store.h"

namespace gloo {
class Context;
}

namespace pgan::comm {

struct GlooOptions {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  // The address (or host name) this rank listens on and the others connect
  // to. Empty: this machine's host name, as Gloo resolves it.
  std::string hostname;
  // Bounds the rendezvous and every collective. Positive and finite.
  absl::Duration timeout = absl::Seconds(60);

  absl::Status Validate() const;
};

class GlooCommunicator final : public Communicator {
 public:
  // Connects to every other rank; blocks until all of them have called
  // Create with the same store (or the timeout).
  static absl::StatusOr<std::unique_ptr<GlooCommunicator>> Create(
      const GlooOptions& options, KeyValueStore* store);
  ~GlooCommunicator() override;

  int rank() const override { return options_.rank; }
  int world_size() const override { return options_.world_size; }
  int local_rank() const override { return options_.local_rank; }
  Backend backend() const override { return Backend::kGloo; }

  absl::Status AllReduceSum(float* data, size_t count) override;
  absl::Status AllReduceSum(double* data, size_t count) override;
  absl::Status Broadcast(void* data, size_t bytes, int root) override;
  absl::Status BroadcastHost(void* data, size_t bytes, int root) override;
  absl::Status AllGatherHost(uint64_t value, uint64_t* out) override;
  absl::Status Barrier() override;
  [[noreturn]] void Abort(const std::string& reason, int exit_code) override;

 private:
  explicit GlooCommunicator(const GlooOptions& options);
  // Runs one collective; turns Gloo's exceptions into a Status naming
  // `what` and remembers the first failure.
  template <typename Fn>
  absl::Status Run(const char* what, Fn&& fn);
  template <typename T>
  absl::Status AllReduceSumOf(T* data, size_t count);

  const GlooOptions options_;
  std::shared_ptr<gloo::Context> context_;
  absl::Status broken_;
  uint32_t next_tag_ = 0;
};

}  // namespace pgan::comm

#endif  // PGAN_WORKER_GLOO_COMMUNICATOR_H_
