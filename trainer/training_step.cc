#include "trainer/training_step.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include <torch/torch.h>

#include "common/status_macros.h"
#include "trainer/diffaug.h"
#include "trainer/loss.h"
#include "trainer/sample_random.h"
#include "trainer/spectral_norm.h"
#include "trainer/torch_status.h"
#include "trainer/world_invariant.h"

namespace pgan::trainer {
namespace {

void SetRequiresGrad(const std::vector<torch::Tensor>& params, bool value) {
  for (torch::Tensor p : params) p.requires_grad_(value);
}

}  // namespace

uint64_t SampleKey(uint64_t seed, int64_t iteration, int64_t global_index,
                   RandomPurpose purpose) {
  return MixSeed({seed, static_cast<uint64_t>(iteration),
                  static_cast<uint64_t>(global_index),
                  static_cast<uint64_t>(purpose)});
}

absl::StatusOr<StepOptions> MakeStepOptions(const config::TrainingConfig& config,
                                            const BatchLayout& layout) {
  StepOptions options;
  options.seed = config.seed;
  options.layout = layout;
  options.ema_kimg = config.EmaKimg();
  options.ema_rampup = config.ema_rampup;
  ASSIGN_OR_RETURN(options.amp, ParseAmp(config.amp));
  options.channels_last = config.channels_last;
  options.world_invariant = config.WorldInvariant();
  return options;
}

TrainingStep::TrainingStep(Networks* networks, Adam* g_opt, Adam* d_opt,
                           ProcessGroup* group, StepOptions options)
    : nets_(networks),
      g_opt_(g_opt),
      d_opt_(d_opt),
      group_(group),
      options_(std::move(options)),
      device_(networks->G->parameters().front().device()) {
  if (options_.world_invariant) {
    // InvariantPhase refines them once per phase instead.
    SetSpectralNormRefinement(*nets_->G, false);
    SetSpectralNormRefinement(*nets_->D, false);
  }
}

int64_t TrainingStep::Chunks() const {
  return options_.layout.batch / options_.layout.batch_gpu;
}

std::vector<int64_t> TrainingStep::RoundIndices(int round) const {
  std::vector<int64_t> indices(options_.layout.batch_gpu);
  for (int e = 0; e < options_.layout.batch_gpu; ++e) {
    indices[e] = options_.layout.GlobalIndex(round, e);
  }
  return indices;
}

namespace {

std::vector<uint64_t> Keys(uint64_t seed, int64_t iteration,
                           const std::vector<int64_t>& indices,
                           RandomPurpose purpose) {
  std::vector<uint64_t> keys;
  keys.reserve(indices.size());
  for (int64_t i : indices) keys.push_back(SampleKey(seed, iteration, i, purpose));
  return keys;
}

}  // namespace

torch::Tensor TrainingStep::Latents(int64_t iteration,
                                    const std::vector<int64_t>& indices,
                                    RandomPurpose purpose) const {
  SampleRandom random(Keys(options_.seed, iteration, indices, purpose));
  return random.Normal({nets_->config.z_dim},
                       torch::TensorOptions().dtype(torch::kFloat).device(device_));
}

torch::Tensor TrainingStep::FakeLabels(int64_t iteration,
                                       const std::vector<int64_t>& indices,
                                       RandomPurpose purpose) const {
  if (!nets_->config.conditional()) return torch::Tensor();
  const int64_t n = options_.label_table.size(0);
  std::vector<int64_t> rows;
  for (uint64_t key : Keys(options_.seed, iteration, indices, purpose)) {
    rows.push_back(static_cast<int64_t>(key % static_cast<uint64_t>(n)));
  }
  return options_.label_table.index_select(0, torch::tensor(rows)).to(device_);
}

absl::Status TrainingStep::GeneratorPhase(int64_t iteration, StepStats* stats) {
  Generator& g = nets_->G;
  ProjectedDiscriminator& d = nets_->D;
  g_opt_->ZeroGrad();
  std::optional<InvariantPhase> invariant;
  if (options_.world_invariant) {
    // One forward of each network per round.
    invariant.emplace(std::vector<std::pair<torch::nn::Module*, int>>{
                          {g.ptr().get(), 1}, {d.ptr().get(), 1}},
                      g_opt_->params());
  } else {
    RETURN_IF_ERROR(group_->PrepareGradients(g_opt_->params()));
  }
  SetRequiresGrad(g->parameters(), true);
  SetRequiresGrad(d->trainable_parameters(), false);
  const int res = nets_->config.resolution;
  torch::Tensor loss_sum = torch::zeros({}, torch::kDouble);
  for (int round = 0; round < options_.layout.rounds(); ++round) {
    if (invariant) invariant->BeginRound();
    const std::vector<int64_t> idx = RoundIndices(round);
    const torch::Tensor z = Latents(iteration, idx, RandomPurpose::kGLatent);
    const torch::Tensor c = FakeLabels(iteration, idx, RandomPurpose::kGLabel);
    SampleRandom noise(Keys(options_.seed, iteration, idx, RandomPurpose::kGNoise));
    torch::Tensor logits;
    {
      const AutocastScope autocast(device_.type(), options_.amp);
      const torch::Tensor images = g->forward(z, c, &noise);
      SampleRandom aug_random(
          Keys(options_.seed, iteration, idx, RandomPurpose::kGAugment));
      // Augmentation parameters in fp32 whatever G's output is.
      const DiffAugmentParams aug = SampleDiffAugmentParams(
          static_cast<int64_t>(idx.size()), res, res,
          images.options().dtype(torch::kFloat), &aug_random);
      logits = d->forward(images, c, &aug);
    }
    // The loss in fp32 (a no-op without --amp).
    const torch::Tensor loss = GeneratorLoss(logits.to(torch::kFloat));
    Backward(loss);
    loss_sum += loss.detach().to(torch::kCPU, torch::kDouble);
    if (invariant) invariant->EndRound();
  }
  SetRequiresGrad(g->parameters(), false);
  stats->g_loss_sum += loss_sum.item<double>();
  if (invariant) RETURN_IF_ERROR(invariant->End(*group_, Chunks()));
  return ApplyGradients(*g_opt_, invariant.has_value(), stats);
}

absl::Status TrainingStep::DiscriminatorPhase(int64_t iteration,
                                              const torch::Tensor& real,
                                              const torch::Tensor& real_labels,
                                              StepStats* stats) {
  Generator& g = nets_->G;
  ProjectedDiscriminator& d = nets_->D;
  d_opt_->ZeroGrad();
  std::optional<InvariantPhase> invariant;
  if (options_.world_invariant) {
    // A round runs G once and D twice (fakes, then reals).
    invariant.emplace(std::vector<std::pair<torch::nn::Module*, int>>{
                          {g.ptr().get(), 1}, {d.ptr().get(), 2}},
                      d_opt_->params());
  } else {
    RETURN_IF_ERROR(group_->PrepareGradients(d_opt_->params()));
  }
  SetRequiresGrad(d->trainable_parameters(), true);
  const int res = nets_->config.resolution;
  const int bg = options_.layout.batch_gpu;
  torch::Tensor sums = torch::zeros({5}, torch::kDouble);  // loss, fake, sign, real, sign
  // D's logits in fp32; the forward under --amp's autocast, the backward
  // outside it (as torch.autocast is meant to be used).
  const auto logits = [&](const torch::Tensor& images, const torch::Tensor& c,
                          const DiffAugmentParams& aug) {
    const AutocastScope autocast(device_.type(), options_.amp);
    return d->forward(images, c, &aug, false).to(torch::kFloat);
  };
  for (int round = 0; round < options_.layout.rounds(); ++round) {
    if (invariant) invariant->BeginRound();
    const std::vector<int64_t> idx = RoundIndices(round);
    // Fakes: G runs in training mode (BatchNorm statistics update, as in the
    // reference) but needs no gradient in this phase.
    torch::Tensor fake;
    const torch::Tensor c = FakeLabels(iteration, idx, RandomPurpose::kDLabel);
    {
      torch::NoGradGuard no_grad;
      const AutocastScope autocast(device_.type(), options_.amp);
      const torch::Tensor z = Latents(iteration, idx, RandomPurpose::kDLatent);
      SampleRandom noise(Keys(options_.seed, iteration, idx, RandomPurpose::kDNoise));
      // update_emas: StyleGAN2's w_avg follows the D phase's w, as the
      // reference's Dgen pass.
      fake = g->forward(z, c, &noise, /*update_emas=*/true);
    }
    SampleRandom fake_random(
        Keys(options_.seed, iteration, idx, RandomPurpose::kDAugmentFake));
    const DiffAugmentParams fake_aug = SampleDiffAugmentParams(
        bg, res, res, fake.options().dtype(torch::kFloat), &fake_random);
    const torch::Tensor fake_logits = logits(fake, c, fake_aug);
    const torch::Tensor fake_loss = DiscriminatorFakeLoss(fake_logits);
    Backward(fake_loss);

    // From pinned host memory (the loader's, on a GPU) without waiting.
    torch::Tensor x = real.narrow(0, static_cast<int64_t>(round) * bg, bg)
                          .to(device_, /*non_blocking=*/true)
                          .to(torch::kFloat) / 127.5 - 1;
    if (options_.channels_last) {
      x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    }
    const torch::Tensor rc =
        real_labels.defined()
            ? real_labels.narrow(0, static_cast<int64_t>(round) * bg, bg).to(device_)
            : torch::Tensor();
    SampleRandom real_random(
        Keys(options_.seed, iteration, idx, RandomPurpose::kDAugmentReal));
    const DiffAugmentParams real_aug =
        SampleDiffAugmentParams(bg, res, res, x.options(), &real_random);
    const torch::Tensor real_logits = logits(x, rc, real_aug);
    const torch::Tensor real_loss = DiscriminatorRealLoss(real_logits);
    Backward(real_loss);

    torch::NoGradGuard no_grad;
    const torch::Tensor fl = fake_logits.detach().to(torch::kDouble);
    const torch::Tensor rl = real_logits.detach().to(torch::kDouble);
    sums += torch::stack({(fake_loss + real_loss).detach().to(torch::kDouble),
                          fl.sum(), fl.sign().sum(), rl.sum(), rl.sign().sum()})
                .to(torch::kCPU);
    stats->fake_logits += fl.numel();
    stats->real_logits += rl.numel();
    if (invariant) invariant->EndRound();
  }
  SetRequiresGrad(d->trainable_parameters(), false);
  if (invariant) RETURN_IF_ERROR(invariant->End(*group_, Chunks()));
  stats->d_loss_sum += sums[0].item<double>();
  stats->score_fake_sum += sums[1].item<double>();
  stats->sign_fake_sum += sums[2].item<double>();
  stats->score_real_sum += sums[3].item<double>();
  stats->sign_real_sum += sums[4].item<double>();
  return ApplyGradients(*d_opt_, invariant.has_value(), stats);
}

void TrainingStep::Backward(const torch::Tensor& loss) {
  const int world = group_->world_size();
  if (world == 1 || options_.world_invariant) {
    loss.backward();
  } else {
    // The reference divides the summed gradients by num_gpus; dividing the
    // loss gives the same gradients (exactly when world is a power of two)
    // and lets the sync be a plain sum.
    (loss * (1.0 / world)).backward();
  }
}

absl::Status TrainingStep::ApplyGradients(Adam& optimizer, bool summed,
                                          StepStats* stats) {
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : optimizer.params()) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (!summed) RETURN_IF_ERROR(group_->SumGradients(grads));
  torch::NoGradGuard no_grad;
  torch::Tensor nonfinite = torch::zeros({}, torch::TensorOptions()
                                                 .dtype(torch::kLong)
                                                 .device(device_));
  for (torch::Tensor& grad : grads) {
    nonfinite += torch::isfinite(grad).logical_not().sum();
    // The reference's scrub: NaN -> 0, +-Inf -> +-1e5.
    torch::nan_to_num_(grad, 0.0, 1e5, -1e5);
  }
  stats->nonfinite_grads += nonfinite.item<int64_t>();
  optimizer.Step();
  return absl::OkStatus();
}

void TrainingStep::UpdateEma(int64_t cur_nimg) {
  torch::NoGradGuard no_grad;
  double ema_nimg = options_.ema_kimg * 1000;
  if (options_.ema_rampup > 0) {
    ema_nimg = std::min(ema_nimg, cur_nimg * options_.ema_rampup);
  }
  const double beta =
      std::pow(0.5, options_.layout.batch / std::max(ema_nimg, 1e-8));
  // The reference computes p.lerp(p_ema, beta), which for beta > 0.5 is
  // p_ema - (1 - beta_f) * (p_ema - p) in float. ema.lerp_(p, w) with
  // w = 1 - beta_f (< 0.5) is p_ema + w * (p - p_ema): the same number bit
  // for bit, without a temporary the size of the parameter. At or below 0.5 (the
  // first iterations of the ramp-up) the two differ, so use the reference's
  // form there.
  const float beta_f = static_cast<float>(beta);
  const auto params = nets_->G->parameters();
  auto ema_params = nets_->G_ema->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    if (beta_f > 0.5f) {
      ema_params[i].lerp_(params[i], 1.0f - beta_f);
    } else {
      ema_params[i].copy_(params[i].detach().lerp(ema_params[i], beta));
    }
  }
  const auto buffers = nets_->G->buffers();
  auto ema_buffers = nets_->G_ema->buffers();
  for (size_t i = 0; i < buffers.size(); ++i) ema_buffers[i].copy_(buffers[i]);
}

absl::StatusOr<StepStats> TrainingStep::Run(int64_t iteration, int64_t cur_nimg,
                                            const torch::Tensor& real_images,
                                            const torch::Tensor& real_labels) {
  if (real_images.size(0) != options_.layout.per_process()) {
    return absl::InvalidArgumentError("TrainingStep: wrong real batch size");
  }
  StepStats stats;
  stats.rounds = options_.layout.rounds();
  RETURN_IF_ERROR(CatchTorch("generator phase", [&] {
    return GeneratorPhase(iteration, &stats);
  }));
  RETURN_IF_ERROR(CatchTorch("discriminator phase", [&] {
    return DiscriminatorPhase(iteration, real_images, real_labels, &stats);
  }));
  RETURN_IF_ERROR(CatchTorch("G_ema update", [&] {
    UpdateEma(cur_nimg);
    return absl::OkStatus();
  }));
  return stats;
}

}  // namespace pgan::trainer
