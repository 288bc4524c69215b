// One complete training iteration against the reference implementation:
// testdata/iteration_golden.json (tools/make_iteration_golden.py) holds every
// parameter and buffer of the reference's G, G_ema and D after its
// training_loop.py phases (G phase, D phase, both Adam steps with the D
// optimiser's lazy-regularisation quirk, the G_ema update) from deterministic
// weights, with pgan's latents, noise and DiffAugment parameters injected
// into the reference's unchanged code. Here pgan's TrainingStep runs the same
// iteration from the same weights and every entry is compared.
//
// Tolerance: each value within 1e-7 + 1e-5 |e|, far below one Adam step
// (2e-4), so that a wrong learning rate or beta fails. A first Adam step moves
// a parameter by about lr * sign(gradient), so where another CPU's summation
// order flips the sign of a gradient that is zero up to rounding, that value
// may be off by up to 2 * lr * (1 + 1e-3); at most 0.5% of a tensor's compared
// values may be. On the machine that made the data (Debian's LibTorch 1.13.1)
// every value is bit-identical.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "config/training_config.h"
#include "tests/trainer/golden_util.h"
#include "trainer/network_file.h"
#include "trainer/process_group.h"
#include "trainer/state_dict.h"
#include "trainer/trainer.h"
#include "trainer/training_step.h"

namespace pgan::trainer {
namespace {

using nlohmann::json;

const json& Golden() { return golden::Load("iteration_golden.json"); }

constexpr double kLr = 2e-4;
constexpr double kAtol = 1e-7;
constexpr double kRtol = 1e-5;

// Every stored value of `expected` against `actual` (see the top).
void ExpectStateMatches(const torch::Tensor& actual_in, const json& expected,
                        const std::string& what, int* exact, int* total) {
  const auto shape = expected.at("shape").get<std::vector<int64_t>>();
  ASSERT_EQ(actual_in.sizes(), torch::IntArrayRef(shape)) << what;
  const torch::Tensor actual =
      actual_in.detach().to(torch::kDouble).contiguous().view(-1);
  const double* a = actual.data_ptr<double>();
  const int64_t stride = expected.at("stride").get<int64_t>();
  const json& values = expected.at("values");
  int off_by_a_step = 0, failures = 0;
  bool all_exact = true;
  for (size_t j = 0; j < values.size(); ++j) {
    const double e = static_cast<float>(values[j].get<double>());
    const double v = a[static_cast<int64_t>(j) * stride];
    all_exact = all_exact && v == e;
    const double err = std::abs(v - e);
    if (err <= kAtol + kRtol * std::abs(e)) continue;
    if (err <= 2 * kLr * (1 + 1e-3)) {
      ++off_by_a_step;
    } else {
      ++failures;
      ADD_FAILURE() << what << "[" << j * stride << "]: got " << v
                    << ", expected " << e;
      if (failures > 3) return;
    }
  }
  EXPECT_LE(off_by_a_step, std::max<size_t>(1, values.size() / 200))
      << what << ": " << off_by_a_step << " values off by about one Adam step";
  if (expected.contains("sum")) {
    const double scale = std::max(expected.at("sum_abs").get<double>(), 1e-30);
    EXPECT_LE(std::abs(actual.sum().item<double>() -
                       expected.at("sum").get<double>()) /
                  scale,
              1e-5)
        << what << " sum";
    EXPECT_LE(std::abs(actual.abs().sum().item<double>() - scale) / scale, 1e-5)
        << what << " sum|x|";
  }
  *exact += all_exact;
  ++*total;
}

TEST(IterationGoldenTest, OneIterationEqualsTheReferences) {
  const json& golden = Golden();
  const json& it = golden.at("iteration");
  const int sn = golden.at("sn_iterations").get<int>();
  const json& g_net = golden.at("networks").at("G");
  const json& d_net = golden.at("networks").at("D");

  absl::StatusOr<Networks> built = BuildNetworks(golden::NetworkConfig(g_net));
  ASSERT_TRUE(built.ok()) << built.status();
  Networks nets = *built;
  golden::FillDeterministic(*nets.G, g_net, sn);
  golden::FillDeterministic(*nets.D, d_net, sn);
  ASSERT_FALSE(HasFatalFailure());
  CopyState(*nets.G, *nets.G_ema);  // The reference's G_ema = deepcopy(G).
  nets.G->train();
  nets.D->train();

  config::TrainingConfig config;
  config.model = nets.config;
  config.batch = it.at("batch").get<int>();
  config.batch_gpu = it.at("batch_gpu").get<int>();
  config.ResolveCfgDefaults();
  ASSERT_DOUBLE_EQ(config.glr, kLr);
  Optimizers opt = MakeOptimizers(nets, config);
  StepOptions options;
  options.seed = it.at("seed").get<uint64_t>();
  options.layout = {0, 1, config.batch, config.batch_gpu};
  options.ema_kimg = config.EmaKimg();
  options.ema_rampup = config.ema_rampup;
  LocalProcessGroup group;
  TrainingStep step(&nets, opt.g.get(), opt.d.get(), &group, options);

  const int64_t res = nets.config.resolution;
  std::vector<double> u = golden::Uniform(it.at("reals").get<std::string>(),
                                          config.batch * 3 * res * res);
  for (double& x : u) x = std::floor(x * 256);
  const torch::Tensor reals = golden::FromDoubles(
      std::move(u), {config.batch, 3, res, res}, torch::kUInt8);

  absl::StatusOr<StepStats> stats =
      step.Run(it.at("iteration").get<int64_t>(),
               it.at("cur_nimg").get<int64_t>(), reals, torch::Tensor());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_NEAR(stats->g_loss_sum, it.at("g_loss_sum").get<double>(), 1e-5);
  EXPECT_NEAR(stats->d_loss_sum, it.at("d_loss_sum").get<double>(), 1e-5);

  const json& after = golden.at("after");
  int exact = 0, total = 0;
  size_t compared = 0;
  for (const auto& [prefix, module] :
       std::vector<std::pair<std::string, torch::nn::Module*>>{
           {"G.", nets.G.get()},
           {"G_ema.", nets.G_ema.get()},
           {"D.", nets.D.get()}}) {
    for (const auto& [key, tensor] : StateDict(*module)) {
      const std::string name = prefix + key;
      ASSERT_TRUE(after.contains(name)) << "the reference has no " << name;
      ExpectStateMatches(tensor, after.at(name), name, &exact, &total);
      ++compared;
    }
  }
  EXPECT_EQ(compared, after.size()) << "pgan's state has other entries";
  std::cout << "  " << total << " state entries compared, " << exact
            << " bit-identical; G loss " << stats->g_loss_sum << " vs "
            << it.at("g_loss_sum").get<double>() << ", D loss "
            << stats->d_loss_sum << " vs " << it.at("d_loss_sum").get<double>()
            << "\n";
}

}  // namespace
}  // namespace pgan::trainer
