// The names of quality metrics, as the reference writes them: "fid50k_full"
// (FID of 50,000 generated images against the full dataset), "kid50k_full"
// (KID), "fd2k_full" (the Frechet distance on the frozen feature network's
// pooled features, reported as "fd2k_full_efficientnet_lite0"). Counts
// below 1000 are written without "k" ("fd64_full"). Without Inception
// weights an FID request is computed and reported as that FD: never called
// FID. Torch-free, so the coordinator refuses a bad name at submission with
// the trainer's own message. Functions only.
#ifndef PGAN_CONFIG_METRIC_NAME_H_
#define PGAN_CONFIG_METRIC_NAME_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pgan::config {

enum class MetricKind { kFid, kKid, kFd };

struct MetricSpec {
  MetricKind kind = MetricKind::kFd;
  int64_t num_fakes = 0;
  // As reported and stored: "fid50k_full", "fd2k_full_efficientnet_lite0".
  std::string name;
  bool inception() const { return kind != MetricKind::kFd; }
};

// The most metrics one run evaluates.
inline constexpr int kMaxMetrics = 8;

// Parses "(fid|kid|fd)<N>[k]_full" (N >= 2 images, at most 1,000,000); the
// name is left empty. INVALID_ARGUMENT names the accepted forms.
absl::StatusOr<MetricSpec> ParseMetric(const std::string& text);

// Parses and names `requested` for the extractors at hand: "fid" becomes an
// FD on `feature_network` (its timm name, "tf_efficientnet_lite0") when
// `have_inception` is false; "kid" needs Inception (the error says how to
// get it). Duplicates after naming are an error. Messages do not name the
// option (callers prefix it).
absl::StatusOr<std::vector<MetricSpec>> ResolveMetrics(
    const std::vector<std::string>& requested, bool have_inception,
    const std::string& feature_network);

// "50k" for 50000, "64" for 64.
std::string CountName(int64_t count);

}  // namespace pgan::config

#endif  // PGAN_CONFIG_METRIC_NAME_H_
