#include "config/metric_name.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace pgan::config {

std::string CountName(int64_t count) {
  return count % 1000 == 0 ? absl::StrCat(count / 1000, "k")
                           : absl::StrCat(count);
}

absl::StatusOr<MetricSpec> ParseMetric(const std::string& text) {
  const auto bad = [&]() {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown metric \"", text.substr(0, 64),
        "\"; expected fid<N>k_full, kid<N>k_full or fd<N>k_full (for example "
        "fid50k_full, fd2k_full; fd64_full for 64 images)"));
  };
  MetricSpec spec;
  absl::string_view rest = text;
  if (absl::ConsumePrefix(&rest, "fid")) {
    spec.kind = MetricKind::kFid;
  } else if (absl::ConsumePrefix(&rest, "kid")) {
    spec.kind = MetricKind::kKid;
  } else if (absl::ConsumePrefix(&rest, "fd")) {
    spec.kind = MetricKind::kFd;
  } else {
    return bad();
  }
  if (!absl::ConsumeSuffix(&rest, "_full")) return bad();
  int64_t scale = 1;
  if (absl::ConsumeSuffix(&rest, "k")) scale = 1000;
  int64_t n = 0;
  if (rest.empty() || rest.size() > 7 ||
      !std::all_of(rest.begin(), rest.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(rest, &n)) {
    return bad();
  }
  spec.num_fakes = n * scale;
  if (spec.num_fakes < 2 || spec.num_fakes > 1000000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\": the number of images must be 2 to 1000000"));
  }
  return spec;
}

absl::StatusOr<std::vector<MetricSpec>> ResolveMetrics(
    const std::vector<std::string>& requested, bool have_inception,
    const std::string& feature_network) {
  absl::string_view short_network = feature_network;
  absl::ConsumePrefix(&short_network, "tf_");
  std::vector<MetricSpec> out;
  std::set<std::string> names;
  for (const std::string& text : requested) {
    absl::StatusOr<MetricSpec> parsed = ParseMetric(text);
    if (!parsed.ok()) return parsed.status();
    MetricSpec spec = *parsed;
    if (spec.kind == MetricKind::kKid && !have_inception) {
      return absl::InvalidArgumentError(absl::StrCat(
          text,
          ": KID needs Inception-v3 weights (the pt_inception-2015-12-05 "
          "weights of pytorch-fid, given as the inception option)"));
    }
    if (spec.kind == MetricKind::kFid && !have_inception) {
      spec.kind = MetricKind::kFd;  // Named for what it is below.
    }
    const std::string count = CountName(spec.num_fakes);
    switch (spec.kind) {
      case MetricKind::kFid:
        spec.name = absl::StrCat("fid", count, "_full");
        break;
      case MetricKind::kKid:
        spec.name = absl::StrCat("kid", count, "_full");
        break;
      case MetricKind::kFd:
        spec.name = absl::StrCat("fd", count, "_full_", short_network);
        break;
    }
    if (!names.insert(spec.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec.name, " is requested twice"));
    }
    out.push_back(spec);
  }
  return out;
}

}  // namespace pgan::config
