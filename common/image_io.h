// Image decoding (PNG via libpng, JPEG via libjpeg-turbo) and PNG encoding
// for datasets, sample grids and the generate/score commands. Decoders are
// strict: a truncated or corrupt file is an error naming the file, never a
// partly decoded image. Torch-free, no shared state.
#ifndef PGAN_COMMON_IMAGE_IO_H_
#define PGAN_COMMON_IMAGE_IO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pgan {

// 8-bit image, rows top to bottom, channels interleaved (HWC).
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 (gray) or 3 (RGB).
  std::vector<uint8_t> pixels;
};

// Decodes PNG or JPEG bytes (detected by signature). Grayscale stays one
// channel, palette and gray+alpha become RGB/gray, alpha is dropped,
// 16-bit samples are reduced to 8 bits. `name` appears in errors.
absl::StatusOr<Image> DecodeImage(const std::string& bytes,
                                  const std::string& name);
absl::StatusOr<Image> ReadImage(const std::string& path);

// Size and channels of a PNG or JPEG as DecodeImage would return them,
// without decoding the pixels. For PNG the first 33 bytes suffice (the IHDR
// chunk); a JPEG needs its bytes up to the frame header, which may follow
// large metadata, so pass the whole file. `name` appears in errors.
struct ImageInfo {
  int width = 0;
  int height = 0;
  int channels = 0;
};
absl::StatusOr<ImageInfo> PeekImageInfo(const std::string& bytes,
                                        const std::string& name);
// Bytes that always suffice for PeekImageInfo on a PNG.
inline constexpr size_t kPngHeaderBytes = 33;

// Encodes an Image as PNG. `compression_level` 0 (stored, fastest) to 9.
absl::StatusOr<std::string> EncodePng(const Image& image,
                                      int compression_level = 6);
// Encodes and writes atomically.
absl::Status WritePng(const std::string& path, const Image& image,
                      int compression_level = 6);

// True for the file extensions DecodeImage understands (case-insensitive).
bool HasImageExtension(const std::string& path);
// True for extensions of other image formats that PIL reads (BMP, GIF, TIFF,
// WebP, ...): the reference's dataset tools would take such files, so a
// dataset folder holding them is an error here, not a silent skip.
bool HasUnsupportedImageExtension(const std::string& path);

}  // namespace pgan

#endif  // PGAN_COMMON_IMAGE_IO_H_
