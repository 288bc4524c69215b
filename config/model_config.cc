#include "config/model_config.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "config/fields.h"
#include "config/training_config.h"

namespace pgan::config {

// The model's rows of the option table, applied to a TrainingConfig that
// holds this model (the table's accessors start there).
absl::Status ModelConfig::Validate() const {
  TrainingConfig holder;
  holder.model = *this;
  for (const Field& field : Fields()) {
    if (!field.in_model) continue;
    std::optional<std::string> violation = field.value->Violation(holder);
    if (violation.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field.key, ": ", *violation));
    }
  }
  if (resolution == 0) {
    return absl::InvalidArgumentError(
        "resolution: 0 (the dataset's) must be resolved before a model is "
        "built: expected a power of two from 32 to 1024");
  }
  if (z_dim == 0) {
    return absl::InvalidArgumentError(
        "z_dim: 0 (the cfg's) must be resolved before a model is built: "
        "expected an integer from 1 to 4096");
  }
  return absl::OkStatus();
}

nlohmann::json ModelConfig::ToJson() const {
  TrainingConfig holder;
  holder.model = *this;
  nlohmann::json json = nlohmann::json::object();
  for (const Field& field : Fields()) {
    if (field.in_model) json[field.key] = field.value->ToJson(holder);
  }
  return json;
}

absl::StatusOr<ModelConfig> ModelConfig::FromJson(const nlohmann::json& json,
                                                  const std::string& source) {
  auto error = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
  };
  if (!json.is_object()) return error("model config is not a JSON object");
  TrainingConfig holder;
  for (const Field& field : Fields()) {
    if (!field.in_model) continue;
    const auto it = json.find(field.key);
    if (it == json.end()) {
      if (field.absent_in_older_files) continue;
      return error(absl::StrCat("missing key \"", field.key, "\""));
    }
    absl::Status status = field.value->FromJson(*it, &holder);
    if (!status.ok()) {
      return error(absl::StrCat("\"", field.key, "\" ", status.message()));
    }
  }
  absl::Status status = holder.model.Validate();
  if (!status.ok()) return error(std::string(status.message()));
  return holder.model;
}

}  // namespace pgan::config
