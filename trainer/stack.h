// A Sequential that can itself sit inside a Sequential. LibTorch's
// Sequential has a templated forward(), so it cannot be nested directly;
// this gives it a plain Tensor -> Tensor forward while keeping the child
// names "0", "1", ... of PyTorch's nn.Sequential. Not thread-safe.
#ifndef PGAN_TRAINER_STACK_H_
#define PGAN_TRAINER_STACK_H_

#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

namespace pgan::trainer {

class StackImpl : public torch::nn::SequentialImpl {
 public:
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) {
    return SequentialImpl::forward<torch::Tensor>(std::move(x));
  }
};
TORCH_MODULE(Stack);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_STACK_H_
