// For tests that go over the whole option table: a valid value other than
// the default for every field, and a value every ruled option refuses.
// Tests fail when a field of the table has none here, so a new option is
// proved on every surface the day it is added.
#ifndef PGAN_TESTS_CONFIG_SAMPLES_H_
#define PGAN_TESTS_CONFIG_SAMPLES_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pgan::testing {

// By path; together a valid configuration for 1 and 2 processes (every
// derived field has one, except model.img_channels, which only has 3).
inline const nlohmann::json& SampleValues() {
  static const auto* values = new nlohmann::json{
      {"model.cfg", "fastgan_lite"},
      {"model.resolution", 64},
      {"model.z_dim", 128},
      {"model.ngf", 16},
      {"model.c_dim", 10},
      {"model.feature_network", "tf_efficientnet_lite1"},
      {"model.cout", 32},
      {"model.expand", false},
      {"model.proj_type", 1},
      {"model.num_discs", 2},
      {"model.w_dim", 256},
      {"model.cbase", 16384},
      {"model.cmax", 256},
      {"model.map_depth", 8},
      {"model.fp32", true},
      {"data", "/data/shapes-64.zip"},
      {"cond", true},
      {"mirror", true},
      {"feature_weights", "/data/lite1.safetensors"},
      {"outdir", "/runs"},
      {"desc", "ffhq-transfer.v2"},
      {"batch", 16},
      {"batch_gpu", 4},
      {"kimg", 12.5},
      {"tick", 0.5},
      {"snap", 3},
      {"keep_every_kimg", 100},
      {"seed", 4294967295u},
      {"restart_every", 14400},
      {"glr", 0.002},
      {"dlr", 0.0015},
      {"d_lazy_quirk", false},
      {"freezed", 2},
      {"world_invariant", "on"},
      {"ema_kimg", 2.5},
      {"ema_rampup", 0},
      {"grid_width", 8},
      {"grid_height", 4},
      {"metrics",
       nlohmann::json::array({"fid50k_full", "kid2k_full", "pr10k3_full",
                              "fid2k_full_pytorchfid"})},
      {"inception", "/data/inception-2015-12-05.pt"},
      {"inception_pytorchfid", "/data/pt_inception.safetensors"},
      {"vgg16", "/data/vgg16.pt"},
      {"metrics_cache", "/data/stats"},
      {"metrics_async", true},
      {"patience", 0},
      {"collapse_ratio", 0},
      {"stop_early", true},
      {"workers", 2},
      {"threads", 2},
      {"device", "cpu"},
      {"nobench", true},
      {"allow_tf32", true},
      {"amp", "bf16"},
      {"channels_last", true},
      {"backend", "mpi"},
      {"comm_timeout", 30},
      {"bucket_mb", 64},
  };
  return *values;
}

// By path: a value of the right type that breaks the field's own rule,
// never zero or empty (a job spec cannot tell those from "unset"). Every
// option with a rule has one. The required ones (data, outdir) break
// theirs by being absent.
inline const nlohmann::json& BadValues() {
  static const auto* values = new nlohmann::json{
      {"model.cfg", "stylegan3"},
      {"model.resolution", 48},
      {"model.z_dim", 5000},
      {"model.ngf", 4},
      {"model.feature_network", "resnet50"},
      {"model.cout", 2048},
      {"model.proj_type", 3},
      {"model.num_discs", 5},
      {"model.w_dim", 5000},
      {"model.cbase", -1},
      {"model.cmax", 5000},
      {"model.map_depth", 17},
      {"desc", "../escape"},
      {"batch", 70000},
      {"batch_gpu", -1},
      {"kimg", -1},
      {"tick", -0.5},
      {"snap", -2},
      {"keep_every_kimg", -1},
      {"seed", 4294967296u},
      {"restart_every", -1},
      {"glr", 2},
      {"dlr", -1},
      {"freezed", 9},
      {"world_invariant", "yes"},
      {"ema_kimg", 2e6},
      {"ema_rampup", -1},
      {"grid_width", 65},
      {"grid_height", 100},
      {"metrics", nlohmann::json::array({"fd1_full"})},
      {"patience", -1},
      {"collapse_ratio", 0.5},
      {"workers", 65},
      {"threads", 2000},
      {"device", "tpu"},
      {"amp", "fp16"},
      {"backend", "gloo"},
      {"comm_timeout", -1},
      {"bucket_mb", -5},
  };
  return *values;
}

// Whole configurations that break a rule between fields, as (path, value)
// pairs over the defaults plus a dataset and an output directory.
inline std::vector<nlohmann::json> BadCombinations() {
  return {
      {{"batch", 16}, {"batch_gpu", 3}},
      {{"metrics_async", true}},
      {{"stop_early", true}},
      {{"metrics", nlohmann::json::array({"kid50k_full"})}},
      {{"metrics", nlohmann::json::array({"pr50k3_full"})}},
      {{"metrics", nlohmann::json::array({"fid50k_full_pytorchfid"})}},
      {{"metrics", nlohmann::json::array({"fid2k_full", "fd2k_full"})}},
      {{"metrics", nlohmann::json::array({"fid5000k_full"})}},
      {{"metrics",
        nlohmann::json::array({"fd2k_full", "fd4k_full", "fd8k_full",
                               "fd16k_full", "fd32k_full", "fd64k_full",
                               "fd128k_full", "fd256k_full", "fd512k_full"})}},
  };
}

}  // namespace pgan::testing

#endif  // PGAN_TESTS_CONFIG_SAMPLES_H_
