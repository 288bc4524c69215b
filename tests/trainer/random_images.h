// Test datasets: folders of random RGB PNGs (the reference's dataset layout
// without dataset.json).
#ifndef PGAN_TESTS_TRAINER_RANDOM_IMAGES_H_
#define PGAN_TESTS_TRAINER_RANDOM_IMAGES_H_

#include <filesystem>
#include <string>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "common/image_io.h"
#include "common/status_macros.h"

namespace pgan::testing {

// Writes img0.png .. img<count-1>.png, `side` x `side`, into `dir`.
inline absl::Status WriteRandomImageFolder(const std::string& dir, int count,
                                           int side, uint64_t seed) {
  std::filesystem::create_directories(dir);
  torch::manual_seed(seed);
  for (int i = 0; i < count; ++i) {
    const torch::Tensor pixels = torch::randint(0, 256, {side, side, 3}, torch::kUInt8);
    Image image{side, side, 3, {}};
    image.pixels.assign(pixels.data_ptr<uint8_t>(),
                        pixels.data_ptr<uint8_t>() + pixels.numel());
    RETURN_IF_ERROR(WritePng(dir + "/img" + std::to_string(i) + ".png", image));
  }
  return absl::OkStatus();
}

}  // namespace pgan::testing

#endif  // PGAN_TESTS_TRAINER_RANDOM_IMAGES_H_
