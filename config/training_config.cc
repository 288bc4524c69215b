#include "config/training_config.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "config/fields.h"
#include "config/metric_name.h"

namespace pgan::config {
namespace {

using Json = nlohmann::json;

std::string NameOf(const char* path, Surface surface) {
  return FindField(path)->NameOn(surface);
}

absl::Status Refuse(const char* path, Surface surface,
                    const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat(NameOf(path, surface), ": ", what));
}

absl::Status ValidateMetricSet(const TrainingConfig& c, Surface surface) {
  const AvailableDetectors available{
      !c.inception.empty(), !c.inception_pytorchfid.empty(), !c.vgg16.empty()};
  // A missing detector is said with the surface's name of its option.
  absl::StatusOr<std::vector<MetricSpec>> resolved =
      ResolveMetrics(c.metrics, available, c.model.feature_network,
                     [surface](const std::string& key) {
                       return NameOf(key.c_str(), surface);
                     });
  if (!resolved.ok()) {
    return Refuse("metrics", surface, std::string(resolved.status().message()));
  }
  if (c.metrics.empty()) {
    if (c.metrics_async) {
      return Refuse("metrics_async", surface,
                    absl::StrCat("needs ", NameOf("metrics", surface)));
    }
    if (c.stop_early) {
      return Refuse("stop_early", surface,
                    absl::StrCat("needs ", NameOf("metrics", surface)));
    }
  }
  return absl::OkStatus();
}

absl::Status SetFromJson(const Field& field, const Json& value,
                         const std::string& source, TrainingConfig* c) {
  absl::Status status = field.value->FromJson(value, c);
  if (status.ok()) return status;
  return absl::InvalidArgumentError(absl::StrCat(
      source, ": field \"", field.path(), "\" ", status.message()));
}

absl::Status UnknownKey(const std::string& source, const std::string& key) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": unknown field \"", key.substr(0, 64), "\""));
}

}  // namespace

absl::Status TrainingConfig::Validate(int world_size, Surface surface) const {
  for (const Field& field : Fields()) {
    if (surface == Surface::kJobSpec && !field.supplied_by_service.empty()) {
      continue;  // The coordinator's worker sets these.
    }
    absl::Status status = CheckField(field, *this, surface);
    if (!status.ok()) return status;
  }
  if (world_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the number of processes must be at least 1, got ", world_size));
  }
  if (batch % world_size != 0) {
    return Refuse(
        "batch", surface,
        absl::StrCat(batch, " is not divisible by the number of processes (",
                     world_size, ")"));
  }
  const int per_process = BatchPerProcess(world_size);
  if (per_process % BatchGpu(world_size) != 0) {
    return Refuse(
        "batch_gpu", surface,
        absl::StrCat("the batch per process (", per_process, " = ",
                     NameOf("batch", surface), " ", batch, " / ", world_size,
                     world_size == 1 ? " process" : " processes",
                     ") is not divisible by ", NameOf("batch_gpu", surface),
                     " ", BatchGpu(world_size)));
  }
  return ValidateMetricSet(*this, surface);
}

Json TrainingConfig::ToJson() const {
  Json json = Json::object();
  Json& model_json = json["model"] = Json::object();
  for (const Field& field : Fields()) {
    (field.in_model ? model_json : json)[field.key] =
        field.value->ToJson(*this);
  }
  return json;
}

absl::StatusOr<TrainingConfig> TrainingConfig::FromJson(
    const Json& json, const std::string& source) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": a training configuration is a JSON object"));
  }
  TrainingConfig c;
  for (const auto& [key, value] : json.items()) {
    if (key == "model") {
      if (!value.is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": field \"model\" must be a JSON object"));
      }
      for (const auto& [model_key, model_value] : value.items()) {
        const Field* field = FindField(absl::StrCat("model.", model_key));
        if (field == nullptr) {
          return UnknownKey(source, absl::StrCat("model.", model_key));
        }
        absl::Status status = SetFromJson(*field, model_value, source, &c);
        if (!status.ok()) return status;
      }
      continue;
    }
    const Field* field = FindField(key);
    if (field == nullptr || field->in_model) return UnknownKey(source, key);
    absl::Status status = SetFromJson(*field, value, source, &c);
    if (!status.ok()) return status;
  }
  return c;
}

absl::StatusOr<TrainingConfig> ForInitialNetwork(
    const TrainingConfig& requested, const ModelConfig& network,
    const std::string& file, Surface surface) {
  const TrainingConfig defaults;
  TrainingConfig out = requested;
  out.model = network;
  for (const Field& field : Fields()) {
    if (field.group != Group::kModel) continue;
    const FieldValue& v = *field.value;
    if (!v.Equal(requested, defaults) && !v.Equal(requested, out)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field.NameOn(surface), ": ", v.Text(requested), ", but ",
                       file, " is ", v.Text(out),
                       "; a run initialised from a network has the network's "
                       "architecture"));
    }
  }
  out.ema_rampup = 0;
  return out;
}

absl::Status MergeForResume(const TrainingConfig& requested,
                            TrainingConfig* stored, Surface surface) {
  const TrainingConfig defaults;
  for (const Field& field : Fields()) {
    const FieldValue& v = *field.value;
    // An option counts as given when it differs from its default.
    const bool given = !v.Equal(requested, defaults);
    switch (field.on_resume) {
      case OnResume::kFixed:
        if (given && !v.Equal(requested, *stored)) {
          return absl::InvalidArgumentError(
              absl::StrCat(field.NameOn(surface),
                           ": cannot change on resume (the "
                           "snapshot's value, ",
                           v.Text(*stored),
                           ", is used so that training continues exactly)"));
        }
        break;
      case OnResume::kMayChange:
        if (given) v.Copy(requested, stored);
        break;
      case OnResume::kCurrent:
        v.Copy(requested, stored);
        break;
      case OnResume::kDerived:
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace pgan::config
