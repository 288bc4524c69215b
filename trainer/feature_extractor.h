// The seam between the quality metrics and the networks they embed images
// with: Inception-v3's pool3 (FID, KID) or the frozen feature network's
// pooled last stage (an FD named for that network). An extractor is a
// frozen network in eval mode; it is not thread-safe (one caller at a time).
#ifndef PGAN_TRAINER_FEATURE_EXTRACTOR_H_
#define PGAN_TRAINER_FEATURE_EXTRACTOR_H_

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace pgan::trainer {

class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;

  // What the features are, as metric names use it: "inception_v3",
  // "efficientnet_lite0". A Frechet distance on features other than
  // "inception_v3" is never called FID.
  virtual std::string name() const = 0;
  // Feature width (2048 for Inception-v3 pool3).
  virtual int64_t dim() const = 0;
  // A digest of the weights (hex), part of the statistics cache key: equal
  // for the same weights in any process, different when any weight differs.
  virtual std::string weights_digest() const = 0;

  // `images`: uint8 [N, C, H, W] with C 1 (repeated to RGB) or 3, any size
  // (the extractor resizes to its own input size), on any device. Returns
  // float32 [N, dim()] on the extractor's device.
  virtual absl::StatusOr<torch::Tensor> Extract(const torch::Tensor& images) = 0;
};

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_FEATURE_EXTRACTOR_H_
