#include "config/fields.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "config/field_value.h"

namespace pgan::config {

std::string Field::path() const {
  return in_model ? absl::StrCat("model.", key) : key;
}

std::string Field::job_key() const {
  if (flag.empty()) return "";
  absl::string_view name = flag;
  absl::ConsumePrefix(&name, "--");
  return absl::StrReplaceAll(name, {{"-", "_"}});
}

std::string Field::NameOn(Surface surface) const {
  switch (surface) {
    case Surface::kFlags:
      if (!flag.empty()) return flag;
      break;
    case Surface::kJobFile:
      if (!flag.empty()) return job_key();
      break;
    case Surface::kJobSpec:
      return absl::StrCat("training.", path());
  }
  return path();
}

const std::vector<Field>& Fields() {
  static const auto* fields =
      new std::vector<Field>(field_internal::MakeOptionTable());
  return *fields;
}

const Field* FindField(absl::string_view path) {
  for (const Field& f : Fields()) {
    if (f.path() == path) return &f;
  }
  return nullptr;
}

const Field* FindJobKey(absl::string_view key) {
  for (const Field& f : Fields()) {
    if (f.is_option() && f.job_key() == key) return &f;
  }
  return nullptr;
}

absl::Status CheckField(const Field& field, const TrainingConfig& config,
                        Surface surface) {
  std::optional<std::string> violation = field.value->Violation(config);
  if (!violation.has_value()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field.NameOn(surface), ": ", *violation));
}

const char* GroupTitle(Group group) {
  switch (group) {
    case Group::kModel:
      return "Model";
    case Group::kData:
      return "Data";
    case Group::kTraining:
      return "Training";
    case Group::kMetrics:
      return "Metrics";
    case Group::kExecution:
      return "Execution";
  }
  return "";
}

const char* TypeName(FieldType type) {
  switch (type) {
    case FieldType::kBool:
      return "a boolean";
    case FieldType::kInt:
      return "an integer";
    case FieldType::kUint64:
      return "a non-negative integer";
    case FieldType::kDouble:
      return "a number";
    case FieldType::kString:
      return "a string";
    case FieldType::kStringList:
      return "a list of strings";
  }
  return "";
}

}  // namespace pgan::config
