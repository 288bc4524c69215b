#include "config/model_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "config/training_config.h"
#include "trainer/model_geometry.h"

namespace pgan::trainer {
namespace {

TEST(ModelConfigTest, DefaultsAreTheReferenceConfiguration) {
  const config::ModelConfig config;
  EXPECT_TRUE(config.Validate().ok());
  EXPECT_EQ(config.cfg, "fastgan");
  EXPECT_EQ(config.z_dim, 256);
  EXPECT_EQ(config.ngf, 128);
  EXPECT_EQ(config.feature_network, "tf_efficientnet_lite0");
  EXPECT_EQ(config.cout, 64);
  EXPECT_TRUE(config.expand);
  EXPECT_EQ(config.proj_type, 2);
  EXPECT_EQ(config.num_discs, 4);
}

TEST(ModelConfigTest, ValidateNamesTheBadField) {
  struct Case {
    void (*mutate)(config::ModelConfig&);
    const char* field;
  };
  const Case cases[] = {
      {[](config::ModelConfig& c) { c.cfg = "stylegan3"; }, "cfg"},
      {[](config::ModelConfig& c) { c.z_dim = 0; }, "z_dim"},
      {[](config::ModelConfig& c) { c.w_dim = 0; }, "w_dim"},
      {[](config::ModelConfig& c) { c.cmax = 0; }, "cmax"},
      {[](config::ModelConfig& c) { c.map_depth = 0; }, "map_depth"},
      {[](config::ModelConfig& c) { c.resolution = 48; }, "resolution"},
      {[](config::ModelConfig& c) { c.resolution = 16; }, "resolution"},
      {[](config::ModelConfig& c) { c.resolution = 2048; }, "resolution"},
      {[](config::ModelConfig& c) { c.ngf = 4; }, "ngf"},
      {[](config::ModelConfig& c) { c.img_channels = 1; }, "img_channels"},
      {[](config::ModelConfig& c) { c.c_dim = 1001; }, "c_dim"},
      {[](config::ModelConfig& c) { c.feature_network = "resnet50"; },
       "feature_network"},
      {[](config::ModelConfig& c) { c.proj_type = 3; }, "proj_type"},
      {[](config::ModelConfig& c) { c.num_discs = 5; }, "num_discs"},
  };
  for (const Case& c : cases) {
    config::ModelConfig config;
    c.mutate(config);
    const absl::Status status = config.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_EQ(status.message().rfind(c.field, 0), 0u) << status;
  }
}

TEST(ModelConfigTest, JsonRoundTripAndMissingKeys) {
  config::ModelConfig config;
  config.cfg = "fastgan_lite";
  config.resolution = 64;
  config.c_dim = 10;
  config.feature_network = "tf_efficientnet_lite1";
  auto parsed = config::ModelConfig::FromJson(config.ToJson(), "net.safetensors");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ToJson(), config.ToJson());

  nlohmann::json json = config.ToJson();
  json.erase("ngf");
  auto missing = config::ModelConfig::FromJson(json, "net.safetensors");
  EXPECT_NE(missing.status().message().find("\"ngf\""), std::string::npos);
  EXPECT_NE(missing.status().message().find("net.safetensors"), std::string::npos);

  json = config.ToJson();
  json["resolution"] = "64";
  EXPECT_FALSE(config::ModelConfig::FromJson(json, "f").ok());
  json = config.ToJson();
  json["resolution"] = 100;
  EXPECT_FALSE(config::ModelConfig::FromJson(json, "f").ok());
}

// Network files written before StyleGAN2 lack its fields: they are FastGAN
// files, and the fields take their defaults. Older fields stay required.
TEST(ModelConfigTest, FilesFromBeforeStylegan2StillLoad) {
  nlohmann::json json = config::ModelConfig().ToJson();
  for (const char* key : {"w_dim", "cbase", "cmax", "map_depth", "fp32"}) {
    ASSERT_TRUE(json.contains(key)) << key;
    json.erase(key);
  }
  auto parsed = config::ModelConfig::FromJson(json, "old.safetensors");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ToJson(), config::ModelConfig().ToJson());
  json.erase("z_dim");
  EXPECT_FALSE(config::ModelConfig::FromJson(json, "old.safetensors").ok());
}

// z_dim and the learning rates at 0 are the cfg's, as the reference's
// train.py sets them; given values stay.
TEST(ModelConfigTest, CfgDefaultsResolveAsTheReference) {
  config::TrainingConfig fastgan;
  EXPECT_EQ(fastgan.model.z_dim, 0);
  fastgan.ResolveCfgDefaults();
  EXPECT_EQ(fastgan.model.z_dim, 256);
  EXPECT_DOUBLE_EQ(fastgan.glr, 2e-4);
  EXPECT_DOUBLE_EQ(fastgan.dlr, 2e-4);
  config::TrainingConfig stylegan2;
  stylegan2.model.cfg = "stylegan2";
  stylegan2.dlr = 1e-3;
  stylegan2.ResolveCfgDefaults();
  stylegan2.ResolveCfgDefaults();  // Idempotent.
  EXPECT_EQ(stylegan2.model.z_dim, 64);
  EXPECT_DOUBLE_EQ(stylegan2.glr, 2e-3);
  EXPECT_DOUBLE_EQ(stylegan2.dlr, 1e-3);
  EXPECT_TRUE(stylegan2.model.separable_discs());
  EXPECT_FALSE(fastgan.model.separable_discs());
}

TEST(ModelConfigTest, LogitsPerImageFollowTheReferenceGeometry) {
  config::ModelConfig config;
  const std::pair<int, int> expected[] = {
      {32, 64}, {64, 64}, {128, 64}, {256, 100}, {512, 676}, {1024, 3364}};
  for (const auto& [res, logits] : expected) {
    config.resolution = res;
    EXPECT_EQ(LogitsPerImage(config), logits) << res;
  }
}

TEST(ModelConfigTest, ProjectorGeometryForTheDefaults) {
  const ProjectorGeometry g = ComputeProjectorGeometry(config::ModelConfig());
  EXPECT_EQ(g.channels, (std::array<int, 4>{64, 64, 128, 256}));
  EXPECT_EQ(g.resolutions, (std::array<int, 4>{128, 64, 32, 16}));
  config::ModelConfig ccm;
  ccm.proj_type = 1;
  const ProjectorGeometry g1 = ComputeProjectorGeometry(ccm);
  EXPECT_EQ(g1.channels, (std::array<int, 4>{64, 128, 256, 512}));
  EXPECT_EQ(g1.resolutions, (std::array<int, 4>{64, 32, 16, 8}));
}

}  // namespace
}  // namespace pgan::trainer
