#include "common/resample.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pgan {
namespace {

constexpr double kLanczosSupport = 3.0;
// Fixed-point fraction bits of the weights: 8 bits of pixel value plus two
// bits of headroom for the negative lobes fit a signed 32-bit accumulator.
constexpr int kPrecisionBits = 32 - 8 - 2;

double Sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}

double Lanczos(double x) {
  if (x >= -kLanczosSupport && x < kLanczosSupport) {
    return Sinc(x) * Sinc(x / kLanczosSupport);
  }
  return 0.0;
}

// For each output pixel along one axis: the first input pixel it reads, how
// many it reads, and their fixed-point weights (`taps` per output pixel).
struct Kernel {
  int taps = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;
};

Kernel MakeKernel(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  // Widening the filter by the downscale factor is what antialiases.
  const double filter_scale = std::max(scale, 1.0);
  const double support = kLanczosSupport * filter_scale;
  // PIL multiplies by the reciprocal rather than dividing; the last bit of
  // some weights depends on it.
  const double inverse_scale = 1.0 / filter_scale;

  Kernel kernel;
  kernel.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  kernel.first.resize(out_size);
  kernel.count.resize(out_size);
  kernel.weights.assign(static_cast<size_t>(out_size) * kernel.taps, 0);
  std::vector<double> w(kernel.taps);
  for (int out = 0; out < out_size; ++out) {
    const double center = (out + 0.5) * scale;
    // Truncation toward zero, then clamping, exactly as PIL rounds the bounds.
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int n = hi - lo;
    double total = 0.0;
    for (int i = 0; i < n; ++i) {
      w[i] = Lanczos((i + lo - center + 0.5) * inverse_scale);
      total += w[i];
    }
    int32_t* fixed = &kernel.weights[static_cast<size_t>(out) * kernel.taps];
    for (int i = 0; i < n; ++i) {
      const double normalised = total != 0.0 ? w[i] / total : w[i];
      const double scaled = normalised * (1 << kPrecisionBits);
      fixed[i] = static_cast<int32_t>(scaled < 0 ? scaled - 0.5 : scaled + 0.5);
    }
    kernel.first[out] = lo;
    kernel.count[out] = n;
  }
  return kernel;
}

uint8_t ClipToByte(int32_t accumulator) {
  // Arithmetic shift, so a negative sum stays negative and clips to 0.
  return static_cast<uint8_t>(
      std::clamp<int32_t>(accumulator >> kPrecisionBits, 0, 255));
}

// One pass along an axis. `stride_in`/`stride_out` step between neighbouring
// samples along the filtered axis; `lines` and `line_stride_*` walk the other
// axis; channels are interleaved and filtered independently.
void Pass(const uint8_t* in, uint8_t* out, const Kernel& kernel, int out_size,
          int lines, int channels, size_t stride_in, size_t stride_out,
          size_t line_stride_in, size_t line_stride_out) {
  const int32_t kHalf = int32_t{1} << (kPrecisionBits - 1);
  for (int line = 0; line < lines; ++line) {
    const uint8_t* src = in + line * line_stride_in;
    uint8_t* dst = out + line * line_stride_out;
    for (int o = 0; o < out_size; ++o) {
      const int32_t* w = &kernel.weights[static_cast<size_t>(o) * kernel.taps];
      const uint8_t* base = src + kernel.first[o] * stride_in;
      for (int c = 0; c < channels; ++c) {
        int32_t acc = kHalf;
        for (int i = 0; i < kernel.count[o]; ++i) {
          acc += static_cast<int32_t>(base[i * stride_in + c]) * w[i];
        }
        dst[o * stride_out + c] = ClipToByte(acc);
      }
    }
  }
}

}  // namespace

absl::StatusOr<Image> ResizeLanczos(const Image& image, int width, int height) {
  if (width <= 0 || height <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resize to ", width, "x", height));
  }
  if (image.width <= 0 || image.height <= 0 || image.channels <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height *
                                 image.channels) {
    return absl::InvalidArgumentError("ResizeLanczos: inconsistent image");
  }
  const int c = image.channels;
  Image current = image;
  if (width != image.width) {
    const Kernel kernel = MakeKernel(image.width, width);
    Image next{width, current.height, c, {}};
    next.pixels.resize(static_cast<size_t>(width) * current.height * c);
    Pass(current.pixels.data(), next.pixels.data(), kernel, width,
         current.height, c, /*stride_in=*/c, /*stride_out=*/c,
         /*line_stride_in=*/static_cast<size_t>(current.width) * c,
         /*line_stride_out=*/static_cast<size_t>(width) * c);
    current = std::move(next);
  }
  if (height != image.height) {
    const Kernel kernel = MakeKernel(image.height, height);
    Image next{current.width, height, c, {}};
    next.pixels.resize(static_cast<size_t>(current.width) * height * c);
    const size_t row = static_cast<size_t>(current.width) * c;
    // Columns are the lines here: neighbouring samples are a row apart.
    Pass(current.pixels.data(), next.pixels.data(), kernel, height,
         current.width, c, /*stride_in=*/row, /*stride_out=*/row,
         /*line_stride_in=*/c, /*line_stride_out=*/c);
    current = std::move(next);
  }
  return current;
}

Image CenterCropSquare(const Image& image) {
  const int side = std::min(image.width, image.height);
  const int top = (image.height - side) / 2;
  const int left = (image.width - side) / 2;
  const int c = image.channels;
  Image out{side, side, c, {}};
  out.pixels.resize(static_cast<size_t>(side) * side * c);
  for (int y = 0; y < side; ++y) {
    const uint8_t* src =
        &image.pixels[(static_cast<size_t>(top + y) * image.width + left) * c];
    std::copy(src, src + static_cast<size_t>(side) * c,
              &out.pixels[static_cast<size_t>(y) * side * c]);
  }
  return out;
}

Image PadCentered(const Image& image, int width, int height) {
  width = std::max(width, image.width);
  height = std::max(height, image.height);
  const int top = (height - image.height) / 2;
  const int left = (width - image.width) / 2;
  const int c = image.channels;
  Image out{width, height, c, {}};
  out.pixels.assign(static_cast<size_t>(width) * height * c, 0);
  const size_t row = static_cast<size_t>(image.width) * c;
  for (int y = 0; y < image.height; ++y) {
    std::copy(&image.pixels[y * row], &image.pixels[y * row] + row,
              &out.pixels[(static_cast<size_t>(top + y) * width + left) * c]);
  }
  return out;
}

Image GrayToRgb(const Image& image) {
  if (image.channels != 1) return image;
  Image out{image.width, image.height, 3, {}};
  out.pixels.resize(image.pixels.size() * 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    out.pixels[3 * i] = out.pixels[3 * i + 1] = out.pixels[3 * i + 2] =
        image.pixels[i];
  }
  return out;
}

}  // namespace pgan
