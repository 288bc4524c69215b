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

std::vector<std::string> MetricSpec::ResultKeys() const {
  if (kind == MetricKind::kPr) {
    return {absl::StrCat(name, "_precision"), absl::StrCat(name, "_recall")};
  }
  return {name};
}

std::string DetectorOption(MetricDetector detector) {
  switch (detector) {
    case MetricDetector::kInception:
      return "inception";
    case MetricDetector::kPytorchFid:
      return "inception_pytorchfid";
    case MetricDetector::kVgg16:
      return "vgg16";
    case MetricDetector::kFeatureNetwork:
      break;
  }
  return "";
}

std::string DetectorFile(MetricDetector detector) {
  switch (detector) {
    case MetricDetector::kInception:
      return "NVIDIA's TorchScript Inception, inception-2015-12-05.pt";
    case MetricDetector::kPytorchFid:
      return "pytorch-fid's Inception-v3 weights, pt_inception-2015-12-05";
    case MetricDetector::kVgg16:
      return "NVIDIA's TorchScript VGG16, vgg16.pt";
    case MetricDetector::kFeatureNetwork:
      break;
  }
  return "the feature network";
}

absl::StatusOr<MetricSpec> ParseMetric(const std::string& text) {
  const auto bad = [&]() {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown metric \"", text.substr(0, 64),
        "\"; expected fid<N>k_full, kid<N>k_full, pr<N>k3_full, "
        "fd<N>k_full, or fid/kid with _pytorchfid (for example fid50k_full, "
        "pr50k3_full, fid50k_full_pytorchfid, fd2k_full; fd64_full for 64 "
        "images)"));
  };
  MetricSpec spec;
  absl::string_view rest = text;
  if (absl::ConsumePrefix(&rest, "fid")) {
    spec.kind = MetricKind::kFid;
  } else if (absl::ConsumePrefix(&rest, "kid")) {
    spec.kind = MetricKind::kKid;
    spec.max_reals = 1000000;
  } else if (absl::ConsumePrefix(&rest, "pr")) {
    spec.kind = MetricKind::kPr;
    spec.max_reals = 200000;
  } else if (absl::ConsumePrefix(&rest, "fd")) {
    spec.kind = MetricKind::kFd;
  } else {
    return bad();
  }
  switch (spec.kind) {
    case MetricKind::kFid:
    case MetricKind::kKid:
      spec.detector = absl::ConsumeSuffix(&rest, "_pytorchfid")
                          ? MetricDetector::kPytorchFid
                          : MetricDetector::kInception;
      break;
    case MetricKind::kPr:
      spec.detector = MetricDetector::kVgg16;
      break;
    case MetricKind::kFd:
      spec.detector = MetricDetector::kFeatureNetwork;
      break;
  }
  if (!absl::ConsumeSuffix(&rest, "_full")) return bad();
  if (spec.kind == MetricKind::kPr &&
      !absl::ConsumeSuffix(&rest, absl::StrCat(kPrNeighbourhood))) {
    return bad();
  }
  int64_t scale = 1;
  if (absl::ConsumeSuffix(&rest, "k")) scale = 1000;
  int64_t n = 0;
  if (rest.empty() || rest.size() > 7 ||
      !std::all_of(rest.begin(), rest.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(rest, &n)) {
    return bad();
  }
  spec.num_fakes = n * scale;
  const int64_t least = spec.kind == MetricKind::kPr ? kPrNeighbourhood + 1 : 2;
  if (spec.num_fakes < least || spec.num_fakes > 1000000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\": the number of images must be ", least, " to 1000000"));
  }
  return spec;
}

absl::StatusOr<std::vector<MetricSpec>> ResolveMetrics(
    const std::vector<std::string>& requested,
    const AvailableDetectors& available, const std::string& feature_network,
    const std::function<std::string(const std::string&)>& option_name) {
  absl::string_view short_network = feature_network;
  absl::ConsumePrefix(&short_network, "tf_");
  const auto have = [&](MetricDetector d) {
    switch (d) {
      case MetricDetector::kInception:
        return available.inception;
      case MetricDetector::kPytorchFid:
        return available.pytorchfid;
      case MetricDetector::kVgg16:
        return available.vgg16;
      case MetricDetector::kFeatureNetwork:
        break;
    }
    return true;
  };
  std::vector<MetricSpec> out;
  std::set<std::string> names;
  for (const std::string& text : requested) {
    absl::StatusOr<MetricSpec> parsed = ParseMetric(text);
    if (!parsed.ok()) return parsed.status();
    MetricSpec spec = *parsed;
    const std::string count = CountName(spec.num_fakes);
    if (spec.kind == MetricKind::kFid &&
        spec.detector == MetricDetector::kInception && !have(spec.detector)) {
      spec.kind = MetricKind::kFd;  // Named for what it is below.
      spec.detector = MetricDetector::kFeatureNetwork;
    }
    if (!have(spec.detector)) {
      const std::string key = DetectorOption(spec.detector);
      return absl::InvalidArgumentError(absl::StrCat(
          text, " needs ",
          option_name ? option_name(key) : absl::StrCat("the ", key, " option"),
          " (", DetectorFile(spec.detector), ")"));
    }
    switch (spec.kind) {
      case MetricKind::kFid:
      case MetricKind::kKid:
        spec.name = absl::StrCat(
            spec.kind == MetricKind::kFid ? "fid" : "kid", count, "_full",
            spec.detector == MetricDetector::kPytorchFid ? "_pytorchfid" : "");
        break;
      case MetricKind::kPr:
        spec.name = absl::StrCat("pr", count, kPrNeighbourhood, "_full");
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
