#include "trainer/world_invariant.h"

#include <cmath>
#include <set>

#include <torch/torch.h>

#include "trainer/spectral_norm.h"

namespace pgan::trainer {

std::vector<torch::Tensor> ForwardUpdatedBuffers(torch::nn::Module& module) {
  std::vector<torch::Tensor> out;
  std::set<const void*> seen;
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (!m->is_training()) continue;
    const bool spectral = dynamic_cast<SpectralNormed*>(m.get()) != nullptr;
    for (const auto& item : m->named_buffers(/*recurse=*/false)) {
      if (spectral && (item.key() == "weight_u" || item.key() == "weight_v")) {
        continue;
      }
      if (seen.insert(item.value().data_ptr()).second) out.push_back(item.value());
    }
  }
  return out;
}

InvariantPhase::InvariantPhase(
    const std::vector<std::pair<torch::nn::Module*, int>>& networks,
    std::vector<torch::Tensor> params)
    : params_(std::move(params)) {
  torch::NoGradGuard no_grad;
  for (const auto& [network, forwards] : networks) {
    RefineSpectralNorm(*network, forwards);
    for (torch::Tensor& b : ForwardUpdatedBuffers(*network)) {
      buffers_.push_back(b);
    }
  }
  int64_t total = 0;
  for (const torch::Tensor& p : params_) total += p.numel();
  for (const torch::Tensor& b : buffers_) total += b.numel();
  const torch::Device device = !params_.empty() ? params_[0].device()
                               : !buffers_.empty() ? buffers_[0].device()
                                                   : torch::Device(torch::kCPU);
  sums_ = torch::zeros({total}, torch::TensorOptions()
                                    .dtype(torch::kDouble)
                                    .device(device));
  int64_t offset = 0;
  for (const torch::Tensor& p : params_) {
    grad_sums_.push_back(sums_.narrow(0, offset, p.numel()).view(p.sizes()));
    offset += p.numel();
  }
  for (const torch::Tensor& b : buffers_) {
    buffer_sums_.push_back(sums_.narrow(0, offset, b.numel()).view(b.sizes()));
    offset += b.numel();
    starts_.push_back(b.clone());
  }
  has_grad_.assign(params_.size(), false);
}

void InvariantPhase::BeginRound() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < buffers_.size(); ++i) buffers_[i].copy_(starts_[i]);
}

void InvariantPhase::EndRound() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor grad = params_[i].mutable_grad();
    if (!grad.defined()) continue;
    grad_sums_[i].add_(grad);
    grad.zero_();
    has_grad_[i] = true;
  }
  for (size_t i = 0; i < buffers_.size(); ++i) buffer_sums_[i].add_(buffers_[i]);
}

absl::Status InvariantPhase::End(ProcessGroup& group, int64_t chunks) {
  if (absl::Status status = group.SumDoubles(sums_); !status.ok()) {
    return status;
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!has_grad_[i]) continue;
    params_[i].mutable_grad().copy_(grad_sums_[i]);
  }
  for (size_t i = 0; i < buffers_.size(); ++i) {
    torch::Tensor mean = buffer_sums_[i] / static_cast<double>(chunks);
    // Counters (num_batches_tracked) are the same in every chunk: exact.
    if (!buffers_[i].is_floating_point()) mean = mean.round();
    buffers_[i].copy_(mean);
  }
  return absl::OkStatus();
}

}  // namespace pgan::trainer
