// The shapes a Projected GAN's discriminator side derives from its
// architecture: the feature maps the discriminators see and their logit
// maps, as the reference computes them. Functions only.
#ifndef PGAN_TRAINER_MODEL_GEOMETRY_H_
#define PGAN_TRAINER_MODEL_GEOMETRY_H_

#include <array>

#include "config/model_config.h"

namespace pgan::trainer {

// Channels and spatial sizes of the feature maps the discriminators see,
// as the reference computes them (sizes always for a 256 px trunk input).
struct ProjectorGeometry {
  std::array<int, 4> channels;
  std::array<int, 4> resolutions;
};
ProjectorGeometry ComputeProjectorGeometry(const config::ModelConfig& config);

// Side of discriminator k's square logit map.
int LogitMapSide(const config::ModelConfig& config, int k);
// Logits D produces per image (all discriminators together).
int LogitsPerImage(const config::ModelConfig& config);

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_MODEL_GEOMETRY_H_
