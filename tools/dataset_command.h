// `pgan dataset`: converts a folder of images, a zip of images, or MNIST /
// Fashion-MNIST IDX files into the reference's dataset layout (what its
// dataset_tool.py writes), so datasets move between the two: a stored zip of
// NNNNN/imgNNNNNNNN.png files (PNG compression level 0, RGB) plus
// dataset.json with the labels. Torch-free; no shared state.
#ifndef PGAN_TOOLS_DATASET_COMMAND_H_
#define PGAN_TOOLS_DATASET_COMMAND_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"

namespace pgan::tools {

struct DatasetOptions {
  // A folder (searched recursively, images in sorted path order), a .zip of
  // images (sorted by name), or an IDX image file such as
  // train-images-idx3-ubyte.gz with train-labels-idx1-ubyte.gz beside it.
  // Labels come from a dataset.json at the top of a folder or zip (the
  // reference's format) or from the IDX labels file.
  std::string source;
  // The .zip to write. It is replaced only once everything succeeded.
  std::string dest;
  // Output side in pixels, a power of two; 0 keeps the source size, which
  // must then be a power of two. Resizing uses PIL's Lanczos arithmetic.
  int resolution = 0;
  // "" (none: images must be square and all the same size) or
  // "center-crop" (crop the centred square, then resize; needs resolution).
  std::string transform;
  // Convert only the first N images (in sorted order); -1 converts all.
  int64_t max_images = -1;

  absl::Status Validate() const;
};

// Writes the dataset and a one-line summary to `out`. Gray images become
// RGB (the feature network needs three channels; the reference would keep
// one). Errors name the file: an unreadable or truncated image, mixed sizes,
// a non-square or non-power-of-two image without a transform, an empty
// source, a dataset.json without a label for some image.
absl::Status RunDataset(const DatasetOptions& options, std::ostream& out);

}  // namespace pgan::tools

#endif  // PGAN_TOOLS_DATASET_COMMAND_H_
