#include "trainer/adam.h"

#include <cmath>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace pgan::trainer {

Adam::Adam(std::vector<torch::Tensor> params, std::vector<std::string> names,
           AdamOptions options)
    : params_(std::move(params)),
      names_(std::move(names)),
      options_(options),
      state_(params_.size()) {
  TORCH_CHECK(params_.size() == names_.size(), "Adam: one name per parameter");
}

void Adam::Step() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i];
    const torch::Tensor& grad = p.grad();
    if (!grad.defined()) continue;
    ParamState& s = state_[i];
    if (!s.exp_avg.defined()) {
      s.exp_avg = torch::zeros_like(p, torch::MemoryFormat::Preserve);
      s.exp_avg_sq = torch::zeros_like(p, torch::MemoryFormat::Preserve);
    }
    s.step += 1;
    // The operations and their order are torch.optim.Adam's
    // (single-tensor path), so results match it.
    s.exp_avg.mul_(options_.beta1).add_(grad, 1 - options_.beta1);
    s.exp_avg_sq.mul_(options_.beta2).addcmul_(grad, grad, 1 - options_.beta2);
    const double bias_correction1 =
        1 - std::pow(options_.beta1, static_cast<double>(s.step));
    const double bias_correction2 =
        1 - std::pow(options_.beta2, static_cast<double>(s.step));
    const double step_size = options_.lr / bias_correction1;
    const torch::Tensor denom =
        (s.exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(options_.eps);
    p.addcdiv_(s.exp_avg, denom, -step_size);
  }
}

void Adam::ZeroGrad() {
  for (torch::Tensor& p : params_) {
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
  }
}

absl::Status Adam::SetState(size_t index, ParamState state) {
  if (index >= params_.size()) {
    return absl::OutOfRangeError(absl::StrCat("Adam: no parameter ", index));
  }
  const torch::Tensor& p = params_[index];
  for (const torch::Tensor* t : {&state.exp_avg, &state.exp_avg_sq}) {
    if (t->defined() && t->sizes() != p.sizes()) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimiser state for \"", names_[index],
                       "\" does not match the parameter's shape"));
    }
  }
  if (state.exp_avg.defined()) {
    state.exp_avg = state.exp_avg.to(p.options());
    state.exp_avg_sq = state.exp_avg_sq.to(p.options());
  }
  state_[index] = std::move(state);
  return absl::OkStatus();
}

}  // namespace pgan::trainer
