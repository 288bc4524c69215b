#include "services/job_spec_validation.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

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

// Finite and in (low, high] (low excluded: lengths and rates are positive).
absl::Status PositiveUpTo(const std::string& field, double value, double high) {
  if (!std::isfinite(value) || value <= 0 || value > high) {
    return FieldError(
        field, absl::StrCat("expected a number above 0 and at most ", high,
                            ", got ", value));
  }
  return absl::OkStatus();
}

bool IsPowerOfTwo(int v) { return v > 0 && (v & (v - 1)) == 0; }

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

absl::Status ValidateModel(const pgan::v1::ModelConfig& m) {
  if (m.cfg() != "fastgan" && m.cfg() != "fastgan_lite") {
    return FieldError(
        "training.model.cfg",
        absl::StrCat("expected \"fastgan\" or \"fastgan_lite\", got \"",
                     m.cfg().substr(0, 64), "\""));
  }
  if (!IsPowerOfTwo(m.resolution()) || m.resolution() < 32 ||
      m.resolution() > 1024) {
    return FieldError(
        "training.model.resolution",
        absl::StrCat("expected a power of two from 32 to 1024, got ",
                     m.resolution()));
  }
  // Zero means the reference's default for every other field.
  if (m.z_dim() != 0)
    RETURN_IF_ERROR(InRange("training.model.z_dim", m.z_dim(), 1, 4096));
  if (m.ngf() != 0)
    RETURN_IF_ERROR(InRange("training.model.ngf", m.ngf(), 8, 1024));
  if (m.img_channels() != 0 && m.img_channels() != 3) {
    return FieldError("training.model.img_channels",
                      absl::StrCat("expected 3 (RGB), got ", m.img_channels()));
  }
  RETURN_IF_ERROR(InRange("training.model.c_dim", m.c_dim(), 0, 1000));
  if (!m.feature_network().empty() &&
      m.feature_network() != "tf_efficientnet_lite0" &&
      m.feature_network() != "tf_efficientnet_lite1") {
    return FieldError(
        "training.model.feature_network",
        "expected \"tf_efficientnet_lite0\" or \"tf_efficientnet_lite1\"");
  }
  if (m.cout() != 0)
    RETURN_IF_ERROR(InRange("training.model.cout", m.cout(), 1, 1024));
  RETURN_IF_ERROR(InRange("training.model.proj_type", m.proj_type(), 0, 2));
  if (m.num_discs() != 0) {
    RETURN_IF_ERROR(InRange("training.model.num_discs", m.num_discs(), 1, 4));
  }
  return absl::OkStatus();
}

// The trainer's metric names ("fid50k_full", "fd64_full"), checked here so
// that a typo fails at submission rather than on a worker.
absl::Status ValidateMetrics(const pgan::v1::TrainingOptions& t) {
  if (t.metrics_size() > 8) return FieldError("training.metrics", "at most 8");
  for (int i = 0; i < t.metrics_size(); ++i) {
    absl::string_view m = t.metrics(i);
    const std::string field = absl::StrCat("training.metrics[", i, "]");
    const bool kind = absl::ConsumePrefix(&m, "fid") ||
                      absl::ConsumePrefix(&m, "kid") ||
                      absl::ConsumePrefix(&m, "fd");
    const bool full = absl::ConsumeSuffix(&m, "_full");
    absl::ConsumeSuffix(&m, "k");
    int64_t n = 0;
    if (!kind || !full || m.empty() || m.size() > 7 ||
        !std::all_of(m.begin(), m.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(m, &n) || n < 1) {
      return FieldError(field, absl::StrCat("\"", t.metrics(i).substr(0, 40),
                                            "\": expected fid<N>k_full, "
                                            "kid<N>k_full or fd<N>k_full "
                                            "(e.g. fid50k_full, fd64_full)"));
    }
    if (absl::StartsWith(t.metrics(i), "kid") && t.inception().empty()) {
      return FieldError(field, "KID needs training.inception");
    }
  }
  if (t.metrics_async() && t.metrics_size() == 0) {
    return FieldError("training.metrics_async", "needs training.metrics");
  }
  if (t.stop_early() && t.metrics_size() == 0) {
    return FieldError("training.stop_early", "needs training.metrics");
  }
  if (t.has_patience()) {
    RETURN_IF_ERROR(InRange("training.patience", t.patience(), 0, 1000000));
  }
  if (t.has_collapse_ratio() &&
      !(t.collapse_ratio() == 0 || t.collapse_ratio() > 1)) {
    return FieldError("training.collapse_ratio", "must be 0 (off) or > 1");
  }
  return absl::OkStatus();
}

absl::Status ValidateTraining(const pgan::v1::TrainingOptions& t, int workers,
                              const PathRoots& roots) {
  if (!t.has_model())
    return FieldError("training.model", "required (cfg and resolution)");
  RETURN_IF_ERROR(ValidateModel(t.model()));
  if (t.data().empty())
    return FieldError("training.data", "a dataset is required");
  RETURN_IF_ERROR(ConfinePath("training.data", t.data(), roots.data).status());
  if (!t.feature_weights().empty()) {
    RETURN_IF_ERROR(
        ConfinePath("training.feature_weights", t.feature_weights(), roots.data)
            .status());
  }
  if (!t.inception().empty()) {
    RETURN_IF_ERROR(
        ConfinePath("training.inception", t.inception(), roots.data).status());
  }
  RETURN_IF_ERROR(ValidateMetrics(t));
  RETURN_IF_ERROR(InRange("training.batch", t.batch(), 1, 65536));
  if (t.batch() % workers != 0) {
    return FieldError(
        "training.batch",
        absl::StrCat(t.batch(), " is not divisible by resources.workers (",
                     workers, ")"));
  }
  const int per_worker = t.batch() / workers;
  RETURN_IF_ERROR(InRange("training.batch_gpu", t.batch_gpu(), 0, per_worker));
  if (t.batch_gpu() > 0 && per_worker % t.batch_gpu() != 0) {
    return FieldError("training.batch_gpu",
                      absl::StrCat("the batch per worker (", per_worker,
                                   ") is not divisible by ", t.batch_gpu()));
  }
  RETURN_IF_ERROR(PositiveUpTo("training.kimg", t.kimg(), 1e6));
  if (t.has_tick())
    RETURN_IF_ERROR(PositiveUpTo("training.tick", t.tick(), 1e6));
  if (t.has_snap())
    RETURN_IF_ERROR(InRange("training.snap", t.snap(), 1, 1000000));
  if (!std::isfinite(t.keep_every_kimg()) || t.keep_every_kimg() < 0) {
    return FieldError("training.keep_every_kimg", "expected a number >= 0");
  }
  if (t.seed() > 0xffffffffull) {
    return FieldError("training.seed",
                      "must be below 2^32 (NumPy's RandomState range)");
  }
  if (t.has_glr()) RETURN_IF_ERROR(PositiveUpTo("training.glr", t.glr(), 1.0));
  if (t.has_dlr()) RETURN_IF_ERROR(PositiveUpTo("training.dlr", t.dlr(), 1.0));
  if (t.has_ema_kimg() && !std::isfinite(t.ema_kimg())) {
    return FieldError("training.ema_kimg", "expected a finite number");
  }
  if (t.has_ema_rampup() &&
      (!std::isfinite(t.ema_rampup()) || t.ema_rampup() < 0)) {
    return FieldError("training.ema_rampup", "expected a number >= 0");
  }
  RETURN_IF_ERROR(InRange("training.grid_width", t.grid_width(), 0, 64));
  RETURN_IF_ERROR(InRange("training.grid_height", t.grid_height(), 0, 64));
  return InRange("training.threads", t.threads(), 0, 1024);
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
  if (!spec.has_training()) return FieldError("training", "required");
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
