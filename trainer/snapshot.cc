#include "trainer/snapshot.h"

#include <torch/torch.h>

#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/safetensors.h"
#include "common/status_macros.h"
#include "trainer/state_dict.h"
#include "trainer/torch_status.h"

namespace pgan::trainer {
namespace {

constexpr char kTrainingKey[] = "pgan_training";
constexpr char kProgressKey[] = "pgan_progress";

// `world_size` converts moments between this run's gradient scale and the
// world-size-independent one in the file (see snapshot.h).
void AppendOptimizer(const Adam& opt, const std::string& prefix, int world_size,
                     std::vector<torch::Tensor>* keep_alive,
                     std::vector<TensorToWrite>* out) {
  for (size_t i = 0; i < opt.params().size(); ++i) {
    const Adam::ParamState& s = opt.state()[i];
    const std::string base = prefix + opt.names()[i];
    torch::Tensor step = torch::tensor(s.step, torch::kLong);
    keep_alive->push_back(step);
    out->push_back({base + ".step", DType::kI64, {}, step.data_ptr(), 8});
    const double n = world_size;
    for (const auto& [suffix, tensor, scale] :
         {std::tuple<const char*, const torch::Tensor*, double>{".exp_avg",
                                                                &s.exp_avg, n},
          {".exp_avg_sq", &s.exp_avg_sq, n * n}}) {
      if (!tensor->defined()) continue;
      torch::Tensor cpu = tensor->detach().to(torch::kCPU).contiguous();
      if (scale != 1) cpu = cpu * scale;
      keep_alive->push_back(cpu);
      out->push_back({base + suffix, DType::kF32, cpu.sizes().vec(),
                      cpu.data_ptr(), static_cast<size_t>(cpu.nbytes())});
    }
  }
}

absl::Status LoadOptimizer(const SafetensorsFile& file,
                           const std::string& prefix, int world_size,
                           Adam& opt) {
  const double n = world_size;
  for (size_t i = 0; i < opt.params().size(); ++i) {
    const std::string base = prefix + opt.names()[i];
    const TensorEntry* step = file.Find(base + ".step");
    if (step == nullptr || step->dtype != DType::kI64 || !step->shape.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          file.path(), ": missing or malformed optimiser tensor \"", base,
          ".step\""));
    }
    Adam::ParamState s;
    s.step = TensorFromEntry(*step).item<int64_t>();
    const TensorEntry* m = file.Find(base + ".exp_avg");
    const TensorEntry* v = file.Find(base + ".exp_avg_sq");
    const bool need_m = opt.options().beta1 != 0.0;
    if (s.step > 0 && (v == nullptr || (need_m && m == nullptr))) {
      return absl::InvalidArgumentError(absl::StrCat(
          file.path(), ": incomplete optimiser state for \"", base, "\""));
    }
    if (m != nullptr) s.exp_avg = TensorFromEntry(*m) / n;
    if (v != nullptr) s.exp_avg_sq = TensorFromEntry(*v) / (n * n);
    absl::Status status = opt.SetState(i, std::move(s));
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.path(), ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> MetadataJson(const SafetensorsFile& file,
                                            const char* key) {
  auto it = file.metadata().find(key);
  if (it == file.metadata().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": no \"", key,
                     "\" metadata; not a pgan training snapshot"));
  }
  try {
    return nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": metadata \"", key, "\": ", e.what()));
  }
}

}  // namespace

nlohmann::json TrainProgress::ToJson() const {
  return {{"cur_nimg", cur_nimg},
          {"cur_tick", cur_tick},
          {"batch_idx", batch_idx},
          {"tick_start_nimg", tick_start_nimg},
          {"training_seconds", training_seconds},
          {"nonfinite_grads", nonfinite_grads}};
}

absl::StatusOr<TrainProgress> TrainProgress::FromJson(
    const nlohmann::json& json) {
  TrainProgress p;
  try {
    json.at("cur_nimg").get_to(p.cur_nimg);
    json.at("cur_tick").get_to(p.cur_tick);
    json.at("batch_idx").get_to(p.batch_idx);
    json.at("tick_start_nimg").get_to(p.tick_start_nimg);
    json.at("training_seconds").get_to(p.training_seconds);
    json.at("nonfinite_grads").get_to(p.nonfinite_grads);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("progress: ", e.what()));
  }
  return p;
}

absl::Status SaveSnapshot(const std::string& path, const Networks& nets,
                          const Adam& g_opt, const Adam& d_opt,
                          const TrainingState& state, int world_size) {
  std::vector<torch::Tensor> keep_alive;
  std::vector<TensorToWrite> tensors;
  RETURN_IF_ERROR(CatchTorch("collecting the snapshot", [&]() -> absl::Status {
    AppendStateDict(*nets.G, "G.", &keep_alive, &tensors);
    AppendStateDict(*nets.G_ema, "G_ema.", &keep_alive, &tensors);
    AppendStateDict(*nets.D, "D.", &keep_alive, &tensors);
    AppendOptimizer(g_opt, "opt_G.", world_size, &keep_alive, &tensors);
    AppendOptimizer(d_opt, "opt_D.", world_size, &keep_alive, &tensors);
    return absl::OkStatus();
  }));
  const std::map<std::string, std::string> metadata = {
      {kNetworkMetadataKey, nets.config.ToJson().dump()},
      {kTrainingKey, state.config.ToJson().dump()},
      {kProgressKey, state.progress.ToJson().dump()},
      {"format", "pt"}};
  return WriteSafetensors(path, tensors, metadata);
}

absl::StatusOr<bool> IsTrainingSnapshot(const std::string& path) {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(path));
  if (file.metadata().count(kTrainingKey) != 0) return true;
  if (file.metadata().count(kNetworkMetadataKey) != 0) return false;
  return absl::InvalidArgumentError(absl::StrCat(
      path, ": neither a pgan training snapshot nor a network file (no \"",
      kTrainingKey, "\" or \"", kNetworkMetadataKey, "\" metadata)"));
}

absl::StatusOr<TrainingState> ReadSnapshotState(const std::string& path) {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(path));
  ASSIGN_OR_RETURN(nlohmann::json training, MetadataJson(file, kTrainingKey));
  ASSIGN_OR_RETURN(nlohmann::json progress, MetadataJson(file, kProgressKey));
  TrainingState state;
  ASSIGN_OR_RETURN(state.config, config::TrainingConfig::FromJson(training));
  ASSIGN_OR_RETURN(state.progress, TrainProgress::FromJson(progress));
  return state;
}

absl::Status LoadSnapshot(const std::string& path, Networks& nets, Adam& g_opt,
                          Adam& d_opt, int world_size) {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(path));
  return CatchTorch(absl::StrCat("loading ", path), [&]() -> absl::Status {
    RETURN_IF_ERROR(LoadStateDict(*nets.G, file, "G."));
    RETURN_IF_ERROR(LoadStateDict(*nets.G_ema, file, "G_ema."));
    RETURN_IF_ERROR(LoadStateDict(*nets.D, file, "D."));
    RETURN_IF_ERROR(LoadOptimizer(file, "opt_G.", world_size, g_opt));
    return LoadOptimizer(file, "opt_D.", world_size, d_opt);
  });
}

absl::Status ExportNetwork(const std::string& snapshot_path,
                           const std::string& network_path) {
  ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(snapshot_path));
  auto it = file.metadata().find(kNetworkMetadataKey);
  if (it == file.metadata().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(snapshot_path, ": not a pgan snapshot or network file"));
  }
  std::vector<TensorToWrite> tensors;
  for (const TensorEntry& e : file.tensors()) {
    if (e.name.rfind("G.", 0) == 0 || e.name.rfind("G_ema.", 0) == 0 ||
        e.name.rfind("D.", 0) == 0) {
      tensors.push_back({e.name, e.dtype, e.shape, e.data, e.nbytes});
    }
  }
  return WriteSafetensors(
      network_path, tensors,
      {{kNetworkMetadataKey, it->second}, {"format", "pt"}});
}

}  // namespace pgan::trainer
