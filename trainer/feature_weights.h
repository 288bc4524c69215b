// Loads timm's ImageNet weights for the feature network from the
// `model.safetensors` published for tf_efficientnet_lite0 / lite1, by timm's
// key names (conv_stem, bn1, blocks.N.M.*; the classifier head is ignored).
// Functions only; not thread-safe with respect to the trunk it fills.
#ifndef PGAN_TRAINER_FEATURE_WEIGHTS_H_
#define PGAN_TRAINER_FEATURE_WEIGHTS_H_

#include <string>

#include "absl/status/status.h"
#include "trainer/efficientnet.h"

namespace pgan::trainer {

// Fills `trunk` from `path`, then replays the reference's channel probe
// (see ReplayReferenceChannelProbe), so the trunk equals the reference's D
// built from the same weights. Every trunk weight must be present with the
// right shape (BatchNorm's num_batches_tracked may be absent); a key the
// trunk does not have (another EfficientNet variant's) is an error naming it.
// On error the trunk is unchanged.
absl::Status LoadFeatureNetworkWeights(EfficientNetTrunkImpl& trunk,
                                       const std::string& path);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_FEATURE_WEIGHTS_H_
