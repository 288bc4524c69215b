#include "trainer/training_config.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace pgan::trainer {
namespace {

absl::Status OptionError(const std::string& option, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(option, ": ", what));
}

}  // namespace

absl::Status TrainingConfig::Validate(int world_size) const {
  if (absl::Status s = model.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model ", s.message()));
  }
  if (data.empty()) return OptionError("--data", "a dataset is required");
  if (outdir.empty()) return OptionError("--outdir", "an output directory is required");
  if (world_size < 1) return OptionError("world size", "must be >= 1");
  if (batch < 1) return OptionError("--batch", absl::StrCat("must be >= 1, got ", batch));
  if (batch % world_size != 0) {
    return OptionError("--batch", absl::StrCat(batch, " is not divisible by the ",
                                               world_size, " processes"));
  }
  if (batch_gpu < 0) return OptionError("--batch-gpu", "must be >= 1");
  const int per_process = BatchPerProcess(world_size);
  if (per_process % BatchGpu(world_size) != 0) {
    return OptionError("--batch-gpu",
                       absl::StrCat("the batch per process (", per_process,
                                    " = --batch ", batch, " / ", world_size,
                                    " processes) is not divisible by --batch-gpu ",
                                    BatchGpu(world_size)));
  }
  if (seed > 0xffffffffull) {
    return OptionError("--seed", "must be below 2^32 (NumPy's RandomState range)");
  }
  if (!(kimg > 0)) return OptionError("--kimg", "must be > 0");
  if (!(tick > 0)) return OptionError("--tick", "must be > 0");
  if (snap < 1) return OptionError("--snap", "must be >= 1");
  if (keep_every_kimg < 0) return OptionError("--keep-every-kimg", "must be >= 0");
  if (!(glr > 0)) return OptionError("--glr", "must be > 0");
  if (!(dlr > 0)) return OptionError("--dlr", "must be > 0");
  if (ema_rampup < 0) return OptionError("--ema-rampup", "must be >= 0");
  if (grid_width < 0 || grid_height < 0 || grid_width > 64 || grid_height > 64) {
    return OptionError("--grid", "width and height must be 1 to 64");
  }
  if (metrics.size() > 8) return OptionError("--metrics", "at most 8 metrics");
  if (metrics_async && metrics.empty()) {
    return OptionError("--metrics-async", "needs --metrics");
  }
  if (patience < 0) return OptionError("--patience", "must be >= 0");
  if (!(collapse_ratio == 0 || collapse_ratio > 1)) {
    return OptionError("--collapse-ratio", "must be 0 (off) or > 1");
  }
  if (stop_early && metrics.empty()) return OptionError("--stop-early", "needs --metrics");
  if (workers < 1 || workers > 64) return OptionError("--workers", "must be 1 to 64");
  if (threads < 0 || threads > 1024) return OptionError("--threads", "must be 0 to 1024");
  return absl::OkStatus();
}

nlohmann::json TrainingConfig::ToJson() const {
  return nlohmann::json{{"model", model.ToJson()},
                        {"data", data},
                        {"outdir", outdir},
                        {"cond", cond},
                        {"mirror", mirror},
                        {"feature_weights", feature_weights},
                        {"batch", batch},
                        {"batch_gpu", batch_gpu},
                        {"kimg", kimg},
                        {"tick", tick},
                        {"snap", snap},
                        {"keep_every_kimg", keep_every_kimg},
                        {"seed", seed},
                        {"glr", glr},
                        {"dlr", dlr},
                        {"d_lazy_quirk", d_lazy_quirk},
                        {"ema_kimg", ema_kimg},
                        {"ema_rampup", ema_rampup},
                        {"grid_width", grid_width},
                        {"grid_height", grid_height},
                        {"metrics", metrics},
                        {"inception", inception},
                        {"metrics_cache", metrics_cache},
                        {"metrics_async", metrics_async},
                        {"patience", patience},
                        {"collapse_ratio", collapse_ratio},
                        {"stop_early", stop_early},
                        {"workers", workers},
                        {"threads", threads},
                        {"device", device}};
}

absl::StatusOr<TrainingConfig> TrainingConfig::FromJson(const nlohmann::json& json) {
  TrainingConfig c;
  try {
    auto model = ModelConfig::FromJson(json.at("model"), "training config");
    if (!model.ok()) return model.status();
    c.model = *model;
    json.at("data").get_to(c.data);
    json.at("outdir").get_to(c.outdir);
    json.at("cond").get_to(c.cond);
    json.at("mirror").get_to(c.mirror);
    json.at("feature_weights").get_to(c.feature_weights);
    json.at("batch").get_to(c.batch);
    json.at("batch_gpu").get_to(c.batch_gpu);
    json.at("kimg").get_to(c.kimg);
    json.at("tick").get_to(c.tick);
    json.at("snap").get_to(c.snap);
    json.at("keep_every_kimg").get_to(c.keep_every_kimg);
    json.at("seed").get_to(c.seed);
    json.at("glr").get_to(c.glr);
    json.at("dlr").get_to(c.dlr);
    json.at("d_lazy_quirk").get_to(c.d_lazy_quirk);
    json.at("ema_kimg").get_to(c.ema_kimg);
    json.at("ema_rampup").get_to(c.ema_rampup);
    json.at("grid_width").get_to(c.grid_width);
    json.at("grid_height").get_to(c.grid_height);
    // Absent from snapshots written before metrics existed.
    c.metrics = json.value("metrics", c.metrics);
    c.inception = json.value("inception", c.inception);
    c.metrics_cache = json.value("metrics_cache", c.metrics_cache);
    c.metrics_async = json.value("metrics_async", c.metrics_async);
    c.patience = json.value("patience", c.patience);
    c.collapse_ratio = json.value("collapse_ratio", c.collapse_ratio);
    c.stop_early = json.value("stop_early", c.stop_early);
    json.at("workers").get_to(c.workers);
    json.at("threads").get_to(c.threads);
    json.at("device").get_to(c.device);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("training config: ", e.what()));
  }
  return c;
}

}  // namespace pgan::trainer
