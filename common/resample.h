// Pixel transforms for preparing datasets: Lanczos resizing with the
// arithmetic of PIL's Image.resize(..., LANCZOS) (what the reference's
// dataset_tool.py uses), centre cropping, padding and gray to RGB.
// Torch-free; no shared state, so every function is thread-safe.
#ifndef PGAN_COMMON_RESAMPLE_H_
#define PGAN_COMMON_RESAMPLE_H_

#include "absl/status/statusor.h"
#include "common/image_io.h"

namespace pgan {

// Resizes to width x height with a Lanczos-3 filter as PIL does for 8-bit
// images: separable (horizontal pass first, rounded to uint8 in between),
// support 3 widened by the downscale factor so that downscaling antialiases,
// weights normalised per output pixel and applied in 22-bit fixed point,
// results rounded and clipped to [0, 255]. The same size returns a copy.
absl::StatusOr<Image> ResizeLanczos(const Image& image, int width, int height);

// The centred square of side min(width, height); for an odd excess the extra
// row or column is dropped at the bottom or right (as the reference's
// `img[(h - c) // 2 : (h + c) // 2]`).
Image CenterCropSquare(const Image& image);

// Places the image in the middle of a black width x height canvas (at least
// as large as the image); an odd margin puts the extra pixel at the bottom or
// right.
Image PadCentered(const Image& image, int width, int height);

// Repeats the single channel of a gray image three times; RGB is returned
// unchanged.
Image GrayToRgb(const Image& image);

}  // namespace pgan

#endif  // PGAN_COMMON_RESAMPLE_H_
