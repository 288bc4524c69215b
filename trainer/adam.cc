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

namespace {

// Elements per slice of the update: the temporaries of one slice stay small
// (the largest FastGAN weight alone is 151 MB).
constexpr int64_t kSlice = int64_t{1} << 20;

// The layout a parameter is dense in: channels-last (--channels-last) or
// the usual one. The update is elementwise, so it runs over memory order,
// with the gradient and the moments in the parameter's layout.
torch::MemoryFormat LayoutOf(const torch::Tensor& p) {
  return p.dim() == 4 && !p.is_contiguous() &&
                 p.is_contiguous(torch::MemoryFormat::ChannelsLast)
             ? torch::MemoryFormat::ChannelsLast
             : torch::MemoryFormat::Contiguous;
}

// A 1-D view of `t` in memory order; `t` is dense in `layout`.
torch::Tensor FlatView(const torch::Tensor& t, torch::MemoryFormat layout) {
  return layout == torch::MemoryFormat::ChannelsLast
             ? t.permute({0, 2, 3, 1}).view({-1})
             : t.view({-1});
}

}  // namespace

void Adam::Step() {
  torch::NoGradGuard no_grad;
  // With beta1 = 0 (the reference's setting) the first moment is the
  // gradient itself: 0 * m + 1 * g = g. It is then not stored at all.
  const bool first_moment = options_.beta1 != 0.0;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i];
    const torch::Tensor& grad = p.grad();
    if (!grad.defined()) continue;
    ParamState& s = state_[i];
    const torch::MemoryFormat layout = LayoutOf(p);
    if (!s.exp_avg_sq.defined()) {
      s.exp_avg_sq = torch::zeros_like(p, layout);
      if (first_moment) s.exp_avg = torch::zeros_like(p, layout);
    }
    // Moments loaded from a snapshot, or kept across a layout switch.
    if (!s.exp_avg_sq.is_contiguous(layout)) {
      s.exp_avg_sq = s.exp_avg_sq.contiguous(layout);
    }
    if (s.exp_avg.defined() && !s.exp_avg.is_contiguous(layout)) {
      s.exp_avg = s.exp_avg.contiguous(layout);
    }
    s.step += 1;
    const double bias_correction1 =
        1 - std::pow(options_.beta1, static_cast<double>(s.step));
    const double bias_correction2 =
        1 - std::pow(options_.beta2, static_cast<double>(s.step));
    const double step_size = options_.lr / bias_correction1;
    const double bias_correction2_sqrt = std::sqrt(bias_correction2);
    // torch.optim.Adam's operations in its order, slice by slice.
    TORCH_CHECK(p.is_contiguous(layout), "Adam: parameter ", names_[i],
                " is neither contiguous nor channels-last");
    torch::Tensor p_flat = FlatView(p, layout);
    const torch::Tensor g_flat = FlatView(grad.contiguous(layout), layout);
    torch::Tensor v_flat = FlatView(s.exp_avg_sq, layout);
    torch::Tensor m_flat =
        first_moment ? FlatView(s.exp_avg, layout) : torch::Tensor();
    const int64_t n = p_flat.numel();
    for (int64_t begin = 0; begin < n; begin += kSlice) {
      const int64_t len = std::min(kSlice, n - begin);
      const torch::Tensor g = g_flat.narrow(0, begin, len);
      torch::Tensor v = v_flat.narrow(0, begin, len);
      torch::Tensor m = g;
      if (first_moment) {
        m = m_flat.narrow(0, begin, len);
        m.mul_(options_.beta1).add_(g, 1 - options_.beta1);
      }
      v.mul_(options_.beta2).addcmul_(g, g, 1 - options_.beta2);
      const torch::Tensor denom =
          v.sqrt().div_(bias_correction2_sqrt).add_(options_.eps);
      p_flat.narrow(0, begin, len).addcdiv_(m, denom, -step_size);
    }
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
  if (options_.beta1 == 0.0) state.exp_avg = torch::Tensor();  // Not used.
  for (const torch::Tensor* t : {&state.exp_avg, &state.exp_avg_sq}) {
    if (t->defined() && t->sizes() != p.sizes()) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimiser state for \"", names_[index],
                       "\" does not match the parameter's shape"));
    }
  }
  if (state.exp_avg.defined()) state.exp_avg = state.exp_avg.to(p.options());
  if (state.exp_avg_sq.defined()) {
    state.exp_avg_sq = state.exp_avg_sq.to(p.options()).contiguous();
  }
  state_[index] = std::move(state);
  return absl::OkStatus();
}

}  // namespace pgan::trainer
