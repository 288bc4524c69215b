#include "worker/comm_bench.h"

#include <mpi.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "trainer/torch_status.h"
#include "worker/check.h"

namespace pgan::worker {
namespace {

using Clock = std::chrono::steady_clock;

// The slowest rank's value: an iteration waits for it.
absl::StatusOr<double> MaxOverRanks(comm::Communicator& comm, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  std::vector<uint64_t> all(comm.world_size());
  RETURN_IF_ERROR(comm.AllGatherHost(bits, all.data()));
  double worst = 0;
  for (uint64_t b : all) {
    double v;
    std::memcpy(&v, &b, sizeof(v));
    worst = std::max(worst, v);
  }
  return worst;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

double AllReduceBusBandwidth(double bytes, double seconds, int world) {
  if (seconds <= 0 || world < 1) return 0;
  return bytes / seconds * 2.0 * (world - 1) / world;
}

absl::StatusOr<SyncBenchResult> BenchGradientSync(
    comm::Communicator& comm, const SyncBenchOptions& options) {
  if (options.iterations < 1 || options.warmup < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gradient-sync benchmark: iterations must be >= 1 and "
                     "warmup >= 0, got ",
                     options.iterations, " and ", options.warmup));
  }
  SyncBenchResult result;
  CommProcessGroup group(&comm, options.sync);
  // As in training: parameters whose gradients the group placed in its
  // buckets (PrepareGradients), filled as backward would.
  std::vector<std::vector<torch::Tensor>> grads;
  std::vector<torch::Tensor> plain;
  RETURN_IF_ERROR(trainer::CatchTorch("preparing the sync benchmark", [&] {
    torch::manual_seed(comm.rank());
    const auto on = torch::TensorOptions().device(options.device);
    for (const std::vector<int64_t>& sizes : options.phases) {
      int64_t total = 0;
      std::vector<torch::Tensor> params;
      for (int64_t n : sizes) {
        params.push_back(torch::zeros({n}, on));
        total += n;
      }
      RETURN_IF_ERROR(group.PrepareGradients(params));
      grads.emplace_back();
      for (torch::Tensor& p : params) {
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        grads.back().push_back(p.grad().normal_());
      }
      if (total > std::numeric_limits<int>::max()) {
        return absl::InvalidArgumentError(
            absl::StrCat("gradient-sync benchmark: a phase of ", total,
                         " floats is more than one MPI_Allreduce can take"));
      }
      result.floats_per_iteration += total;
      // The baseline's buffer: host memory for MPI, the device's for NCCL.
      plain.push_back(
          torch::randn({total}, comm.backend() == comm::Backend::kNccl
                                    ? on
                                    : torch::TensorOptions()));
    }
    return absl::OkStatus();
  }));

  const auto sync = [&]() -> absl::Status {
    for (std::vector<torch::Tensor>& phase : grads) {
      RETURN_IF_ERROR(group.SumGradients(phase));
    }
    if (options.device.is_cuda()) torch::cuda::synchronize();
    return absl::OkStatus();
  };
  const auto plain_all_reduce = [&]() -> absl::Status {
    for (torch::Tensor& buffer : plain) {
      if (comm.backend() == comm::Backend::kNccl) {
        RETURN_IF_ERROR(
            comm.AllReduceSum(buffer.data_ptr<float>(), buffer.numel()));
        continue;
      }
      PGAN_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buffer.data_ptr<float>(),
                                   static_cast<int>(buffer.numel()), MPI_FLOAT,
                                   MPI_SUM, MPI_COMM_WORLD));
    }
    return absl::OkStatus();
  };
  // Alternating, each after a barrier, so that both see the same machine
  // (caches, other load) and start together.
  double sync_total = 0, plain_total = 0;
  for (int i = 0; i < options.warmup + options.iterations; ++i) {
    const bool timed = i >= options.warmup;
    RETURN_IF_ERROR(comm.Barrier());
    Clock::time_point start = Clock::now();
    RETURN_IF_ERROR(sync());
    if (timed) sync_total += SecondsSince(start);
    RETURN_IF_ERROR(comm.Barrier());
    start = Clock::now();
    RETURN_IF_ERROR(plain_all_reduce());
    if (timed) plain_total += SecondsSince(start);
  }
  for (std::vector<torch::Tensor>& phase : grads) {
    RETURN_IF_ERROR(group.SumGradients(phase));
    result.buckets_per_iteration += group.last_bucket_count();
    result.copied = result.copied || group.last_sync_copied();
  }
  ASSIGN_OR_RETURN(result.sync_seconds,
                   MaxOverRanks(comm, sync_total / options.iterations));
  ASSIGN_OR_RETURN(result.plain_seconds,
                   MaxOverRanks(comm, plain_total / options.iterations));
  return result;
}

}  // namespace pgan::worker
