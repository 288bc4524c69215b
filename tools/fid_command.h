// `pgan metrics` (alias `pgan fid`): quality metrics outside training, the
// reference's calc_metrics.py. Either a network file's G_ema against a
// dataset (the training metrics' fixed latents and dataset statistics
// cache), or a folder (or zip) of fakes against one of reals. The metrics
// are named as the reference names them (config/metric_name.h) and computed
// by the training metrics' code; without NVIDIA's Inception an FID is the
// feature network's FD, named for it. Errors name the file or option.
#ifndef PGAN_TOOLS_FID_COMMAND_H_
#define PGAN_TOOLS_FID_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace pgan::tools {

struct FidOptions {
  // The reference's names; empty: fid50k_full, or with --fake fid<N>_full
  // for the folder's N images.
  std::vector<std::string> metrics;
  // Mode 1: a network file and its dataset.
  std::string network;
  std::string data;
  // Mode 2: fakes against reals (pgan's dataset layout, folder or zip: square
  // images of one power-of-two size); the first N fakes of a metric's N.
  std::string real, fake;
  // The detectors, as pgan train's options of the same names.
  std::string inception;             // NVIDIA's inception-2015-12-05.pt.
  std::string inception_pytorchfid;  // pytorch-fid's weights.
  std::string vgg16;                 // NVIDIA's vgg16.pt.
  // timm weights of the feature network, for FD on folders (a network file
  // carries its own).
  std::string feature_weights;
  std::string metrics_cache;  // Empty: beside the dataset.
  // Where read-only datasets' statistics go (from the environment, in main).
  std::string fallback_stats_cache;
  int batch = 32;
  // One JSON line per metric, the reference's metric-<name>.jsonl record.
  bool json = false;
  std::string device = "auto";
};

absl::Status RunFid(const FidOptions& options, std::ostream& out);

}  // namespace pgan::tools

#endif  // PGAN_TOOLS_FID_COMMAND_H_
