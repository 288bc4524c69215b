#include "worker/comm_process_group.h"

#include <torch/torch.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "trainer/torch_status.h"

namespace pgan::worker {
namespace {

// Host buffers for MPI; the gradients' own device for NCCL.
torch::Device BufferDevice(const comm::Communicator& comm,
                           const torch::Tensor& like) {
  return comm.backend() == comm::Backend::kNccl ? like.device()
                                                : torch::Device(torch::kCPU);
}

// NCCL runs on its own stream: LibTorch's work on the buffers must be done.
void SyncIfCuda(const torch::Tensor& t) {
  if (t.is_cuda()) torch::cuda::synchronize(t.device().index());
}

}  // namespace

CommProcessGroup::CommProcessGroup(comm::Communicator* comm,
                                   GradientSyncOptions options)
    : comm_(comm), options_(options) {}

absl::StatusOr<CommProcessGroup::Plan*> CommProcessGroup::PlanFor(
    const std::vector<torch::Tensor>& tensors) {
  std::vector<int64_t> key;
  for (const torch::Tensor& t : tensors) key.push_back(t.numel());
  auto it = plans_.find(key);
  if (it != plans_.end()) return &it->second;
  Plan plan;
  const int64_t limit = std::max<int64_t>(options_.bucket_bytes / 4, 1);
  size_t first = 0;
  int64_t elements = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (i > first && elements + tensors[i].numel() > limit) {
      plan.buckets.emplace_back(first, i);
      first = i;
      elements = 0;
    }
    elements += tensors[i].numel();
  }
  if (first < tensors.size()) plan.buckets.emplace_back(first, tensors.size());
  RETURN_IF_ERROR(trainer::CatchTorch("allocating gradient buckets", [&] {
    for (const auto& [begin, end] : plan.buckets) {
      int64_t n = 0;
      for (size_t i = begin; i < end; ++i) n += tensors[i].numel();
      torch::Tensor buffer =
          torch::zeros({n}, torch::TensorOptions()
                                .dtype(torch::kFloat)
                                .device(BufferDevice(*comm_, tensors[begin])));
      int64_t offset = 0;
      for (size_t i = begin; i < end; ++i) {
        const int64_t count = tensors[i].numel();
        plan.views.push_back(
            buffer.narrow(0, offset, count).view(tensors[i].sizes()));
        offset += count;
      }
      plan.buffers.push_back(std::move(buffer));
    }
    return absl::OkStatus();
  }));
  return &plans_.emplace(std::move(key), std::move(plan)).first->second;
}

absl::Status CommProcessGroup::PrepareGradients(
    const std::vector<torch::Tensor>& params) {
  if (comm_->world_size() == 1 || params.empty()) return absl::OkStatus();
  for (const torch::Tensor& p : params) {
    if (p.scalar_type() != torch::kFloat ||
        p.device() != BufferDevice(*comm_, params[0])) {
      return absl::OkStatus();  // SumGradients packs them instead.
    }
  }
  ASSIGN_OR_RETURN(Plan * plan, PlanFor(params));
  return trainer::CatchTorch("preparing gradient buckets", [&] {
    torch::NoGradGuard no_grad;
    for (torch::Tensor& buffer : plan->buffers) buffer.zero_();
    for (size_t i = 0; i < params.size(); ++i) {
      // Backward accumulates into a defined gradient in place.
      torch::Tensor p = params[i];
      p.mutable_grad() = plan->views[i];
    }
    return absl::OkStatus();
  });
}

absl::Status CommProcessGroup::SumGradients(std::vector<torch::Tensor>& grads) {
  if (comm_->world_size() == 1 || grads.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(Plan * plan, PlanFor(grads));
  bool in_place = true;
  for (size_t i = 0; i < grads.size() && in_place; ++i) {
    in_place = grads[i].data_ptr() == plan->views[i].data_ptr();
  }
  last_bucket_count_ = static_cast<int64_t>(plan->buckets.size());
  last_sync_copied_ = !in_place;
  return trainer::CatchTorch("gradient sync", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    for (size_t b = 0; b < plan->buckets.size(); ++b) {
      const auto [begin, end] = plan->buckets[b];
      torch::Tensor& buffer = plan->buffers[b];
      if (!in_place) {
        for (size_t i = begin; i < end; ++i) plan->views[i].copy_(grads[i]);
      }
      SyncIfCuda(buffer);
      RETURN_IF_ERROR(comm_->AllReduceSum(buffer.data_ptr<float>(),
                                          static_cast<size_t>(buffer.numel())));
      if (!in_place) {
        for (size_t i = begin; i < end; ++i) grads[i].copy_(plan->views[i]);
      }
    }
    return absl::OkStatus();
  });
}

absl::Status CommProcessGroup::SumDoubles(torch::Tensor& values) {
  if (comm_->world_size() == 1 || values.numel() == 0) return absl::OkStatus();
  if (values.scalar_type() != torch::kDouble) {
    return absl::InvalidArgumentError("SumDoubles: not a float64 tensor");
  }
  return trainer::CatchTorch("float64 sum", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    const bool direct = values.is_contiguous() &&
                        values.device() == BufferDevice(*comm_, values);
    torch::Tensor staging =
        direct ? values : values.to(BufferDevice(*comm_, values)).contiguous();
    SyncIfCuda(staging);
    RETURN_IF_ERROR(comm_->AllReduceSum(staging.data_ptr<double>(),
                                        static_cast<size_t>(staging.numel())));
    if (!direct) values.copy_(staging);
    return absl::OkStatus();
  });
}

absl::Status CommProcessGroup::Broadcast(std::vector<torch::Tensor>& tensors,
                                        int root) {
  if (comm_->world_size() == 1) return absl::OkStatus();
  if (root < 0 || root >= comm_->world_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("broadcast from rank ", root, " of ", comm_->world_size()));
  }
  return trainer::CatchTorch(
      absl::StrCat("broadcasting from rank ", root), [&]() -> absl::Status {
        torch::NoGradGuard no_grad;
        for (torch::Tensor& t : tensors) {
          if (t.numel() == 0) continue;
          const bool direct =
              t.is_contiguous() &&
              (comm_->backend() == comm::Backend::kNccl ? t.is_cuda()
                                                        : !t.is_cuda());
          torch::Tensor staging =
              direct ? t : t.to(BufferDevice(*comm_, t)).contiguous();
          SyncIfCuda(staging);
          RETURN_IF_ERROR(
              comm_->Broadcast(staging.data_ptr(), staging.nbytes(), root));
          if (!direct) t.copy_(staging);
        }
        return absl::OkStatus();
      });
}

absl::Status CommProcessGroup::SumValues(std::vector<double>& values) {
  for (double& v : values) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    ASSIGN_OR_RETURN(std::vector<uint64_t> all, GatherValues(bits));
    // Summed in rank order, so every rank gets the same double.
    double sum = 0;
    for (uint64_t b : all) {
      double x;
      std::memcpy(&x, &b, sizeof(x));
      sum += x;
    }
    v = sum;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint64_t>> CommProcessGroup::GatherValues(
    uint64_t value) {
  std::vector<uint64_t> all(comm_->world_size());
  RETURN_IF_ERROR(comm_->AllGatherHost(value, all.data()));
  return all;
}

}  // namespace pgan::worker
