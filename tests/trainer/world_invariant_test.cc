// --world-invariant's pieces in one process: spectral norm refined on
// request instead of per forward, the buffers a training-mode forward
// changes, and a phase over chunks summing gradients and averaging buffers
// (trainer/world_invariant.h). The end-to-end checks across processes are
// tests/services/world_invariant_test.cc.
#include "trainer/world_invariant.h"

#include <torch/torch.h>

#include <gtest/gtest.h>

#include "trainer/spectral_norm.h"

namespace pgan::trainer {
namespace {

// A spectral-norm layer, then BatchNorm: the state a forward changes.
struct NetImpl : torch::nn::Module {
  NetImpl() {
    sn = register_module("sn", SNLinear(3, 4, /*bias=*/true));
    bn = register_module("bn", torch::nn::BatchNorm1d(4));
  }
  torch::Tensor forward(const torch::Tensor& x) { return bn(sn(x)); }
  SNLinear sn{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};
TORCH_MODULE(Net);

// `to`'s parameters and buffers become `from`'s.
void CopyState(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto buffers = from.named_buffers();
  for (auto& item : to.named_buffers()) item.value().copy_(buffers[item.key()]);
  auto params = from.named_parameters();
  for (auto& item : to.named_parameters()) {
    item.value().copy_(params[item.key()]);
  }
}

TEST(WorldInvariantTest, SpectralNormRefinesOnRequestOnlyWhenTurnedOff) {
  torch::manual_seed(3);
  Net net;
  net->train();
  SetSpectralNormRefinement(*net, false);
  const torch::Tensor u0 = net->sn->weight_u.clone();
  const torch::Tensor x = torch::randn({5, 3});
  net(x);
  net(x);
  EXPECT_TRUE(torch::equal(net->sn->weight_u, u0)) << "forwards refined u";

  // RefineSpectralNorm(n) is what n forwards of the reference's mode do.
  Net reference;
  torch::NoGradGuard no_grad;
  CopyState(*net, *reference);
  reference->train();
  reference(x);
  reference(x);
  RefineSpectralNorm(*net, 2);
  EXPECT_TRUE(torch::equal(net->sn->weight_u, reference->sn->weight_u));
  EXPECT_TRUE(torch::equal(net->sn->weight_v, reference->sn->weight_v));
  EXPECT_FALSE(torch::equal(net->sn->weight_u, u0));
}

TEST(WorldInvariantTest, ForwardUpdatedBuffersAreBatchNormsNotSpectralNorms) {
  Net net;
  net->train();
  const std::vector<torch::Tensor> buffers = ForwardUpdatedBuffers(*net);
  ASSERT_EQ(buffers.size(), 3u);  // running_mean, running_var, num_batches.
  for (const torch::Tensor& b : buffers) {
    EXPECT_NE(b.data_ptr(), net->sn->weight_u.data_ptr());
    EXPECT_NE(b.data_ptr(), net->sn->weight_v.data_ptr());
  }
  net->eval();  // Eval-mode forwards change nothing.
  EXPECT_TRUE(ForwardUpdatedBuffers(*net).empty());
}

// Two chunks in one phase: the gradient is the sum of each chunk's own
// (computed from zero), the statistics the mean of each chunk's single
// momentum step from the phase's start, and u, v were refined once.
TEST(WorldInvariantTest, APhaseSumsChunkGradientsAndAveragesBuffers) {
  torch::manual_seed(5);
  Net net;
  net->train();
  SetSpectralNormRefinement(*net, false);
  const torch::Tensor a = torch::randn({4, 3}), b = torch::randn({4, 3});

  // Expected, chunk by chunk from the same start.
  Net copy;
  CopyState(*net, *copy);
  copy->train();
  SetSpectralNormRefinement(*copy, false);
  RefineSpectralNorm(*copy, 1);
  const std::vector<torch::Tensor> start = ForwardUpdatedBuffers(*copy);
  std::vector<torch::Tensor> start_values;
  for (const torch::Tensor& t : start) start_values.push_back(t.clone());
  std::vector<torch::Tensor> grads, means;
  for (const torch::Tensor& chunk : {a, b}) {
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < start.size(); ++i) start[i].copy_(start_values[i]);
    }
    copy->zero_grad();
    copy(chunk).square().sum().backward();
    const torch::Tensor g = copy->sn->weight_orig.grad().to(torch::kDouble);
    grads.push_back(g);
    means.push_back(copy->bn->running_mean.to(torch::kDouble));
  }

  const torch::Tensor u_before = net->sn->weight_u.clone();
  LocalProcessGroup group;
  InvariantPhase phase({{net.ptr().get(), 1}}, net->parameters());
  EXPECT_FALSE(torch::equal(net->sn->weight_u, u_before)) << "not refined";
  for (const torch::Tensor& chunk : {a, b}) {
    phase.BeginRound();
    net(chunk).square().sum().backward();
    phase.EndRound();
  }
  ASSERT_TRUE(phase.End(group, 2).ok());
  EXPECT_TRUE(torch::equal(net->sn->weight_orig.grad(),
                           (grads[0] + grads[1]).to(torch::kFloat)));
  EXPECT_TRUE(torch::allclose(net->bn->running_mean.to(torch::kDouble),
                              (means[0] + means[1]) / 2, 0, 1e-7));
  EXPECT_EQ(net->bn->num_batches_tracked.item<int64_t>(), 1);
  EXPECT_TRUE(torch::equal(net->sn->weight_u, copy->sn->weight_u));
}

}  // namespace
}  // namespace pgan::trainer
