#include "trainer/loss.h"

#include <torch/torch.h>

namespace pgan::trainer {

torch::Tensor DiscriminatorRealLoss(const torch::Tensor& real_logits) {
  return torch::relu(torch::ones_like(real_logits) - real_logits).mean();
}

torch::Tensor DiscriminatorFakeLoss(const torch::Tensor& fake_logits) {
  return torch::relu(torch::ones_like(fake_logits) + fake_logits).mean();
}

torch::Tensor GeneratorLoss(const torch::Tensor& fake_logits) {
  return (-fake_logits).mean();
}

}  // namespace pgan::trainer
