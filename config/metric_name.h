// The names of quality metrics, as the reference writes them (its
// metrics/metric_main.py): "fid50k_full" (FID of 50,000 generated images
// against every real image, no flips), "kid50k_full" (KID), "pr50k3_full"
// (precision and recall with k = 3, reported as "pr50k3_full_precision" and
// "pr50k3_full_recall"). FID and KID embed images with NVIDIA's TorchScript
// Inception (inception-2015-12-05.pt), PR with its VGG16 (vgg16.pt), as the
// reference does. pgan adds names that are never the reference's:
// "fid50k_full_pytorchfid" (pytorch-fid's port of the same Inception graph,
// whose values differ) and "fd2k_full" (the Frechet distance on the frozen
// feature network, reported as "fd2k_full_efficientnet_lite0"). Counts below
// 1000 are written without "k" ("fd64_full", "pr2003_full": 200 images,
// k = 3). Without NVIDIA's Inception an FID request is computed and reported
// as that FD: never called FID. Torch-free, so the coordinator refuses a bad
// name at submission with the trainer's own message. Functions only.
#ifndef PGAN_CONFIG_METRIC_NAME_H_
#define PGAN_CONFIG_METRIC_NAME_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pgan::config {

enum class MetricKind { kFid, kKid, kPr, kFd };

// The network that embeds the images.
enum class MetricDetector {
  kInception,       // NVIDIA's TorchScript inception-2015-12-05.
  kPytorchFid,      // pytorch-fid's pt_inception-2015-12-05 weights.
  kVgg16,           // NVIDIA's TorchScript vgg16.
  kFeatureNetwork,  // The discriminator's frozen feature network.
};

struct MetricSpec {
  MetricKind kind = MetricKind::kFd;
  MetricDetector detector = MetricDetector::kFeatureNetwork;
  int64_t num_fakes = 0;
  // The most reals used, the first ones in dataset order; 0 = all. As the
  // reference's registration: KID 1,000,000, PR 200,000.
  int64_t max_reals = 0;
  // As reported and stored (the metric-<name>.jsonl file): "fid50k_full",
  // "pr50k3_full", "fd2k_full_efficientnet_lite0".
  std::string name;

  // The keys of the results: the name, or name_precision and name_recall.
  std::vector<std::string> ResultKeys() const;
};

// The most metrics one run evaluates.
inline constexpr int kMaxMetrics = 8;
// The k of precision and recall (the reference registers k = 3 only).
inline constexpr int kPrNeighbourhood = 3;

// Parses "(fid|kid)<N>[k]_full[_pytorchfid]", "pr<N>[k]3_full" or
// "fd<N>[k]_full" (N >= 2 images, at most 1,000,000); the name is left
// empty and the detector is the name's (FID's is NVIDIA's Inception).
// INVALID_ARGUMENT names the accepted forms.
absl::StatusOr<MetricSpec> ParseMetric(const std::string& text);

// Which detector files are at hand.
struct AvailableDetectors {
  bool inception = false;   // NVIDIA's TorchScript Inception.
  bool pytorchfid = false;  // pytorch-fid's Inception weights.
  bool vgg16 = false;       // NVIDIA's TorchScript VGG16.
};

// The option key that gives `detector`'s file ("inception",
// "inception_pytorchfid", "vgg16"; empty for the feature network), and what
// the file is, for messages.
std::string DetectorOption(MetricDetector detector);
std::string DetectorFile(MetricDetector detector);

// Parses and names `requested` for the detectors at hand: "fid<N>_full"
// becomes an FD on `feature_network` (its timm name,
// "tf_efficientnet_lite0") without NVIDIA's Inception; every other metric
// needs its detector (the error names the option and the file).
// Duplicates after naming are an error. `option_name` says an option key
// as the caller's surface spells it ("--vgg16", "training.vgg16"); null:
// "the vgg16 option".
absl::StatusOr<std::vector<MetricSpec>> ResolveMetrics(
    const std::vector<std::string>& requested,
    const AvailableDetectors& available, const std::string& feature_network,
    const std::function<std::string(const std::string&)>& option_name =
        nullptr);

// "50k" for 50000, "64" for 64.
std::string CountName(int64_t count);

}  // namespace pgan::config

#endif  // PGAN_CONFIG_METRIC_NAME_H_
