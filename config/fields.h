// The option table: one row per field of TrainingConfig (the model's fields
// included), declaring its JSON key, `pgan train` flag, type, rule, help,
// group, what a resumed run may do with it, and where a coordinator's job
// takes it from (the rows are in option_table.cc). Everything that reads,
// writes, parses, validates or documents an option goes through this
// table: the run directory's JSON, job files, the flags and --help of pgan
// train, the proto conversion, the coordinator's validation, the resume
// rule and the option tables of the docs. Immutable after first use;
// thread-safe.
#ifndef PGAN_CONFIG_FIELDS_H_
#define PGAN_CONFIG_FIELDS_H_

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "config/training_config.h"

namespace pgan::config {

enum class FieldType { kBool, kInt, kUint64, kDouble, kString, kStringList };

// What a resumed run does with a field (see MergeForResume).
enum class OnResume {
  kFixed,      // Defines the training: a different value is refused.
  kMayChange,  // A value given replaces the snapshot's.
  kCurrent,    // Execution: always this invocation's value.
  kDerived,    // Not an option (taken from the dataset): the snapshot's.
};

// The sections of --help and of the docs.
enum class Group { kModel, kData, kTraining, kMetrics, kExecution };

// Paths a coordinator confines to its roots.
enum class PathKind {
  kNone,
  kInput,   // A file or folder that is read: under a data root.
  kCache,   // A folder that is read and written: under a data or output root.
  kOutput,  // Where run directories go: under an output root.
};

// How one field's value is held, converted and checked; implemented per
// C++ type in field_value.h.
class FieldValue {
 public:
  virtual ~FieldValue() = default;
  virtual FieldType type() const = 0;
  virtual nlohmann::json ToJson(const TrainingConfig& c) const = 0;
  // Type check only; the message says what was expected ("must be an
  // integer, got \"64\"").
  virtual absl::Status FromJson(const nlohmann::json& json,
                                TrainingConfig* c) const = 0;
  // A command-line value ("1", "2e-3", "fid50k_full,kid50k_full").
  virtual absl::Status Parse(absl::string_view text,
                             TrainingConfig* c) const = 0;
  // As --help and the docs show it (strings unquoted, lists comma-joined,
  // "none" for an empty list).
  virtual std::string Text(const TrainingConfig& c) const = 0;
  virtual bool Equal(const TrainingConfig& a,
                     const TrainingConfig& b) const = 0;
  virtual void Copy(const TrainingConfig& from, TrainingConfig* to) const = 0;
  // Whether the value is zero, false or empty (proto3's "unset").
  virtual bool IsZero(const TrainingConfig& c) const = 0;
  // What is wrong with the value (without the field's name), if anything.
  virtual std::optional<std::string> Violation(
      const TrainingConfig& c) const = 0;
};

struct Field {
  // The JSON key in its object, and the proto field's name.
  std::string key;
  // Under "model" (ModelConfig) rather than at the top.
  bool in_model = false;
  // The `pgan train` flag ("--res"); empty for a field that is not an
  // option (it is derived, or fixed).
  std::string flag;
  Group group = Group::kTraining;
  std::string help;
  // The rule, as a phrase ("an integer from 1 to 65536"); empty: any value.
  std::string rule;
  OnResume on_resume = OnResume::kFixed;
  PathKind path_kind = PathKind::kNone;
  // A job file and `pgan train` must set it.
  bool required = false;
  // A model field added after network files existed: a file without it
  // has the field's default.
  bool absent_in_older_files = false;
  // Empty: a job spec has it as training.<path>. Otherwise the coordinator
  // supplies it, and this says from what ("JobSpec.output_dir").
  std::string supplied_by_service;
  std::shared_ptr<const FieldValue> value;

  // "model.resolution", "batch_gpu": the JSON and proto path.
  std::string path() const;
  // The key of a job file: the flag without dashes, '-' as '_' ("res",
  // "batch_gpu"); empty for a field without a flag.
  std::string job_key() const;
  bool is_option() const { return !flag.empty(); }
  bool in_job_spec() const {
    return supplied_by_service.empty() && on_resume != OnResume::kDerived;
  }
  // The field as `surface` spells it: "--batch-gpu", "batch_gpu",
  // "training.batch_gpu" (the path where there is no flag or job key).
  std::string NameOn(Surface surface) const;
};

// Every field, in the order of --help and the docs.
const std::vector<Field>& Fields();
// By path ("model.cfg", "batch"); null when there is none.
const Field* FindField(absl::string_view path);
// By job-file key ("res", "batch_gpu"); null when there is none.
const Field* FindJobKey(absl::string_view key);
// The field's own rule, as INVALID_ARGUMENT "<name>: <violation>".
absl::Status CheckField(const Field& field, const TrainingConfig& config,
                        Surface surface);
const char* GroupTitle(Group group);
// "an integer", "a list of strings", ...: for messages and docs.
const char* TypeName(FieldType type);

}  // namespace pgan::config

#endif  // PGAN_CONFIG_FIELDS_H_
