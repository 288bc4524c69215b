#include "trainer/network_file.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <gtest/gtest.h>

#include "common/safetensors.h"
#include "tests/common/test_dir.h"
#include "trainer/state_dict.h"

namespace pgan::trainer {
namespace {

using ::pgan::testing::TestDir;

config::ModelConfig SmallConfig() {
  config::ModelConfig config;
  config.cfg = "fastgan_lite";
  config.resolution = 32;
  config.ngf = 8;
  return config;
}

// Rewrites `from` into `to`, dropping `drop` and replacing `replace` by a
// tensor of the wrong shape; `extra` adds a tensor.
void Rewrite(const std::string& from, const std::string& to,
             const std::string& drop, const std::string& replace = "",
             const std::string& extra = "") {
  auto file = SafetensorsFile::Open(from);
  ASSERT_TRUE(file.ok());
  std::vector<TensorToWrite> tensors;
  static const float kZeros[16] = {};
  for (const TensorEntry& e : file->tensors()) {
    if (e.name == drop) continue;
    if (e.name == replace) {
      tensors.push_back({e.name, DType::kF32, {2}, kZeros, 8});
      continue;
    }
    tensors.push_back({e.name, e.dtype, e.shape, e.data, e.nbytes});
  }
  if (!extra.empty()) tensors.push_back({extra, DType::kF32, {1}, kZeros, 4});
  ASSERT_TRUE(WriteSafetensors(to, tensors, file->metadata()).ok());
}

TEST(NetworkFileTest, SaveThenLoadRestoresEveryTensor) {
  TestDir dir;
  auto nets = BuildNetworks(SmallConfig());
  ASSERT_TRUE(nets.ok()) << nets.status();
  {
    torch::NoGradGuard no_grad;
    for (auto& p : nets->G->parameters()) p.add_(torch::randn_like(p));
  }
  const std::string path = dir.file("net.safetensors");
  ASSERT_TRUE(SaveNetworkFile(path, *nets).ok());

  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok());
  EXPECT_NE(file->Find("G.synthesis.init.init.0.weight_orig"), nullptr);
  EXPECT_NE(file->Find("G_ema.synthesis.to_big.bias"), nullptr);
  EXPECT_NE(file->Find("D.feature_network.scratch.layer0_ccm.weight"), nullptr);
  EXPECT_EQ(file->Find("D.feature_network.pretrained.layer0.1.num_batches_tracked")->dtype,
            DType::kI64);
  const auto meta = nlohmann::json::parse(file->metadata().at("pgan"));
  for (const char* key : {"cfg", "resolution", "z_dim", "ngf", "img_channels",
                          "c_dim", "feature_network", "cout", "expand",
                          "proj_type", "num_discs"}) {
    EXPECT_TRUE(meta.contains(key)) << key;
  }

  auto loaded = LoadNetworkFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->config.ToJson(), nets->config.ToJson());
  const auto pairs = {std::make_pair(StateDict(*nets->G), StateDict(*loaded->G)),
                      std::make_pair(StateDict(*nets->G_ema), StateDict(*loaded->G_ema)),
                      std::make_pair(StateDict(*nets->D), StateDict(*loaded->D))};
  for (const auto& [want, got] : pairs) {
    ASSERT_EQ(want.size(), got.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_TRUE(torch::equal(want[i].second, got[i].second)) << want[i].first;
    }
  }
  EXPECT_FALSE(loaded->G_ema->is_training());
}

TEST(NetworkFileTest, LoadsOnlyTheRequestedParts) {
  TestDir dir;
  auto nets = BuildNetworks(SmallConfig());
  ASSERT_TRUE(nets.ok());
  ASSERT_TRUE(SaveNetworkFile(dir.file("n.safetensors"), *nets).ok());
  auto g_ema = LoadNetworkFile(dir.file("n.safetensors"), kPartGEma);
  ASSERT_TRUE(g_ema.ok()) << g_ema.status();
  EXPECT_TRUE(g_ema->G_ema);
  EXPECT_FALSE(g_ema->G);
  EXPECT_FALSE(g_ema->D);
}

TEST(NetworkFileTest, ErrorsNameTheFileAndTheKey) {
  TestDir dir;
  auto nets = BuildNetworks(SmallConfig());
  ASSERT_TRUE(nets.ok());
  const std::string good = dir.file("good.safetensors");
  ASSERT_TRUE(SaveNetworkFile(good, *nets).ok());

  const std::string missing = dir.file("missing.safetensors");
  Rewrite(good, missing, "G_ema.synthesis.feat_8.1.weight_orig");
  auto status = LoadNetworkFile(missing).status();
  EXPECT_NE(status.message().find("missing tensor \"G_ema.synthesis.feat_8.1.weight_orig\""),
            std::string::npos)
      << status;
  EXPECT_NE(status.message().find(missing), std::string::npos);

  const std::string shape = dir.file("shape.safetensors");
  Rewrite(good, shape, "", "D.discriminator.mini_discs.2.main.0.main.1.bias");
  status = LoadNetworkFile(shape).status();
  EXPECT_NE(status.message().find("mini_discs.2.main.0.main.1.bias\" has shape [2]"),
            std::string::npos)
      << status;

  const std::string extra = dir.file("extra.safetensors");
  Rewrite(good, extra, "", "", "G.synthesis.feat_2048.weight");
  status = LoadNetworkFile(extra).status();
  EXPECT_NE(status.message().find("G.synthesis.feat_2048.weight"), std::string::npos)
      << status;

  const std::string plain = dir.file("plain.safetensors");
  const float one = 1;
  ASSERT_TRUE(WriteSafetensors(plain, {{"x", DType::kF32, {1}, &one, 4}}, {}).ok());
  status = LoadNetworkFile(plain).status();
  EXPECT_NE(status.message().find("\"pgan\""), std::string::npos) << status;

  const std::string bad_meta = dir.file("meta.safetensors");
  ASSERT_TRUE(WriteSafetensors(bad_meta, {{"x", DType::kF32, {1}, &one, 4}},
                               {{"pgan", R"({"cfg":"fastgan"})"}})
                  .ok());
  status = LoadNetworkFile(bad_meta).status();
  EXPECT_NE(status.message().find("missing key \"resolution\""), std::string::npos)
      << status;
}

}  // namespace
}  // namespace pgan::trainer
