// `pgan fid`: quality metrics outside training. Either a network file's
// G_ema against a dataset (the training metrics' fixed latents and dataset
// statistics cache), or two folders of images. With Inception-v3 weights the
// result is FID (and KID); without them it is the Frechet distance on the
// feature network's pooled features, named for it. Errors name the file or
// option.
#ifndef PGAN_TOOLS_FID_COMMAND_H_
#define PGAN_TOOLS_FID_COMMAND_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace pgan::tools {

struct FidOptions {
  // Mode 1: a network file and its dataset.
  std::string network;
  std::string data;
  int64_t num = 50000;  // Generated images.
  bool mirror = false;  // Count the dataset's flips, as --mirror training.
  // Mode 2: two folders of images (pgan's dataset layout: square images of
  // one power-of-two size per folder).
  std::string real, fake;
  // pytorch-fid Inception-v3 weights (.pth or .safetensors).
  std::string inception;
  // timm weights of the feature network, for folders without --inception
  // (a network file carries its own).
  std::string feature_weights;
  std::string metrics_cache;  // Empty: beside the dataset.
  // Where read-only datasets' statistics go (from the environment, in main).
  std::string fallback_stats_cache;
  int batch = 32;
  bool json = false;
  std::string device = "auto";
};

absl::Status RunFid(const FidOptions& options, std::ostream& out);

}  // namespace pgan::tools

#endif  // PGAN_TOOLS_FID_COMMAND_H_
