#include "services/job_spec_validation.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "config/config_proto.h"
#include "config/fields.h"

namespace pgan::services {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxPathBytes = 4096;
constexpr size_t kMaxNameLength = 128;

absl::Status FieldError(const std::string& field, const std::string& rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", rule));
}

template <typename T>
absl::Status InRange(const std::string& field, T value, T low, T high) {
  if (value < low || value > high) {
    return FieldError(
        field, absl::StrCat("expected ", low, " to ", high, ", got ", value));
  }
  return absl::OkStatus();
}

absl::Status ValidateName(const std::string& name) {
  if (name.size() > kMaxNameLength) {
    return FieldError("name", absl::StrCat("at most ", kMaxNameLength,
                                           " characters, got ", name.size()));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok)
      return FieldError("name", "only letters, digits, '.', '_' and '-'");
  }
  return absl::OkStatus();
}

// The training options are the trainer's: converted and validated by the
// option table (config/), so a job that passes here passes on the workers,
// and fails with the same message. What is the service's own: the paths
// must lie under the coordinator's roots.
absl::Status ValidateTraining(const pgan::v1::TrainingOptions& t, int workers,
                              const PathRoots& roots) {
  ASSIGN_OR_RETURN(const config::TrainingConfig training, config::FromProto(t));
  RETURN_IF_ERROR(training.Validate(workers, config::Surface::kJobSpec));
  for (const config::Field& f : config::Fields()) {
    if (f.path_kind == config::PathKind::kNone || !f.in_job_spec()) continue;
    const std::string path = f.value->Text(training);
    if (path.empty()) continue;
    std::vector<std::string> allowed = roots.data;
    if (f.path_kind == config::PathKind::kCache) {
      allowed.insert(allowed.end(), roots.output.begin(), roots.output.end());
    } else if (f.path_kind == config::PathKind::kOutput) {
      allowed = roots.output;
    }
    RETURN_IF_ERROR(
        ConfinePath(f.NameOn(config::Surface::kJobSpec), path, allowed)
            .status());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ConfinePath(const std::string& field,
                                        const std::string& path,
                                        const std::vector<std::string>& roots) {
  if (path.size() > kMaxPathBytes) {
    return FieldError(field, absl::StrCat("at most ", kMaxPathBytes, " bytes"));
  }
  if (path.find('\0') != std::string::npos || path.empty() || path[0] != '/') {
    return FieldError(field, "expected an absolute path");
  }
  if (roots.empty()) {
    return FieldError(
        field, "the coordinator allows no paths here (no roots configured)");
  }
  // Resolves symlinks of the existing part and `..`, so neither escapes.
  std::error_code error;
  const fs::path resolved = fs::weakly_canonical(fs::path(path), error);
  if (error) {
    return FieldError(
        field, absl::StrCat("cannot resolve ", path, ": ", error.message()));
  }
  for (const std::string& root : roots) {
    const fs::path canonical_root = fs::weakly_canonical(fs::path(root), error);
    if (error) continue;
    // Component by component: /data2 is not under /data.
    auto r = canonical_root.begin();
    auto p = resolved.begin();
    for (; r != canonical_root.end() && p != resolved.end() && *r == *p;
         ++r, ++p) {
    }
    const bool trailing_empty = r != canonical_root.end() && r->empty() &&
                                std::next(r) == canonical_root.end();
    if (r == canonical_root.end() || trailing_empty) return resolved.string();
  }
  return FieldError(field, absl::StrCat(path, " is outside the allowed roots (",
                                        absl::StrJoin(roots, ", "), ")"));
}

absl::Status ValidateJobSpec(const pgan::v1::JobSpec& spec,
                             const PathRoots& roots) {
  RETURN_IF_ERROR(ValidateName(spec.name()));
  if (!spec.has_resources())
    return FieldError("resources", "required (workers)");
  const pgan::v1::Resources& r = spec.resources();
  RETURN_IF_ERROR(InRange("resources.workers", r.workers(), 1, 1024));
  RETURN_IF_ERROR(
      InRange("resources.gpus_per_worker", r.gpus_per_worker(), 0, 1));
  RETURN_IF_ERROR(InRange("resources.cpu_slots_per_worker",
                          r.cpu_slots_per_worker(), 0, 1024));
  RETURN_IF_ERROR(ValidateTraining(spec.training(), r.workers(), roots));
  RETURN_IF_ERROR(InRange("priority", spec.priority(), 0, 100));
  if (spec.has_max_restarts()) {
    RETURN_IF_ERROR(InRange("max_restarts", spec.max_restarts(), 0, 100));
  }
  if (!spec.output_dir().empty()) {
    RETURN_IF_ERROR(
        ConfinePath("output_dir", spec.output_dir(), roots.output).status());
  }
  return absl::OkStatus();
}

}  // namespace pgan::services
