// Projected GAN's losses (reference: training/loss.py): hinge for D with
// separate real and fake passes, and -mean(logits) for G. No
// regularisation. Functions only; thread-safe.
#ifndef PGAN_TRAINER_LOSS_H_
#define PGAN_TRAINER_LOSS_H_

#include <torch/types.h>

namespace pgan::trainer {

// mean(relu(1 - logits)) over every logit of every image.
torch::Tensor DiscriminatorRealLoss(const torch::Tensor& real_logits);
// mean(relu(1 + logits)).
torch::Tensor DiscriminatorFakeLoss(const torch::Tensor& fake_logits);
// mean(-logits).
torch::Tensor GeneratorLoss(const torch::Tensor& fake_logits);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_LOSS_H_
