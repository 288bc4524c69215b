#include "trainer/model_geometry.h"

namespace pgan::trainer {
namespace {

// Output side of a TensorFlow-SAME convolution with stride `stride`.
int SameOut(int x, int stride) { return (x + stride - 1) / stride; }

}  // namespace

ProjectorGeometry ComputeProjectorGeometry(const config::ModelConfig& config) {
  ProjectorGeometry g;
  // The reference fixes the trunk resolution to 256 here on purpose, so the
  // number of down-blocks per discriminator does not depend on the dataset.
  g.resolutions = {256 / 4, 256 / 8, 256 / 16, 256 / 32};
  g.channels = {24, 40, 112, 320};  // EfficientNet-Lite0 and Lite1 stages.
  const int c = config.cout;
  if (config.proj_type >= 1) {
    g.channels = config.expand ? std::array<int, 4>{c, 2 * c, 4 * c, 8 * c}
                               : std::array<int, 4>{c, c, c, c};
  }
  if (config.proj_type == 2) {
    g.channels = config.expand ? std::array<int, 4>{c, c, 2 * c, 4 * c}
                               : std::array<int, 4>{c, c, c, c};
    for (int& r : g.resolutions) r *= 2;
  }
  return g;
}

int LogitMapSide(const config::ModelConfig& config, int k) {
  const ProjectorGeometry geometry = ComputeProjectorGeometry(config);
  // Stage k of the trunk has stride 4 * 2^k; the CSM doubles the size.
  int side = config.interp224() ? 224 : config.resolution;
  side = SameOut(side, 2);  // stem
  side = SameOut(side, 2);  // blocks[1]
  for (int s = 1; s <= k; ++s) side = SameOut(side, 2);
  if (config.proj_type == 2) side *= 2;
  // Down-blocks (4x4, stride 2, pad 1) from the start size down to 8.
  for (int start = geometry.resolutions[k]; start > 8; start /= 2) {
    side = (side + 2 - 4) / 2 + 1;
  }
  return side - 3;  // Final 4x4 convolution, no padding.
}

int LogitsPerImage(const config::ModelConfig& config) {
  int total = 0;
  for (int k = 0; k < config.num_discs; ++k) {
    const int side = LogitMapSide(config, k);
    total += side * side;
  }
  return total;
}

}  // namespace pgan::trainer
