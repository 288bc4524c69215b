#include "common/image_io.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cctype>
#include <csetjmp>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace pgan {
namespace {

absl::Status Unreadable(const std::string& name, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": cannot decode image: ", what));
}

// libpng reports errors by longjmp; this state carries the message out.
struct PngReadState {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char error[256];
};

void PngError(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngReadState*>(png_get_error_ptr(png));
  std::snprintf(state->error, sizeof(state->error), "%s", message);
  png_longjmp(png, 1);
}

void PngWarning(png_structp, png_const_charp) {}

void PngRead(png_structp png, png_bytep out, png_size_t length) {
  auto* state = static_cast<PngReadState*>(png_get_io_ptr(png));
  if (state->size - state->pos < length) {
    png_error(png, "unexpected end of file (truncated)");
  }
  std::memcpy(out, state->data + state->pos, length);
  state->pos += length;
}

absl::StatusOr<Image> DecodePng(const std::string& bytes,
                                const std::string& name) {
  PngReadState state{reinterpret_cast<const uint8_t*>(bytes.data()),
                     bytes.size(), 0, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state,
                                           PngError, PngWarning);
  if (png == nullptr) return absl::ResourceExhaustedError("png_create_read_struct");
  png_infop info = png_create_info_struct(png);
  // Everything libpng may longjmp across lives on the heap behind a pointer
  // that is not modified after setjmp, so its destructor stays well-defined.
  struct Decoded {
    Image image;
    std::vector<png_bytep> rows;
  };
  const auto decoded = std::make_unique<Decoded>();
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return Unreadable(name, state.error);
  }
  png_set_read_fn(png, &state, PngRead);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  const int color_type = png_get_color_type(png, info);
  if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  Image& image = decoded->image;
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  image.channels = png_get_channels(png, info);
  if (image.channels != 1 && image.channels != 3) {
    png_error(png, "unsupported channel layout");
  }
  if (static_cast<uint64_t>(width) * height > (uint64_t{1} << 28)) {
    png_error(png, "image larger than 2^28 pixels");
  }
  image.pixels.resize(static_cast<size_t>(width) * height * image.channels);
  decoded->rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) {
    decoded->rows[y] =
        image.pixels.data() + static_cast<size_t>(y) * width * image.channels;
  }
  png_read_image(png, decoded->rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return std::move(decoded->image);
}

absl::StatusOr<Image> DecodeJpeg(const std::string& bytes,
                                 const std::string& name) {
  std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitDecompress(), tjDestroy);
  if (handle == nullptr) return absl::ResourceExhaustedError("tjInitDecompress");
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  auto* src = reinterpret_cast<const unsigned char*>(bytes.data());
  if (tjDecompressHeader3(handle.get(), src, bytes.size(), &width, &height,
                          &subsamp, &colorspace) != 0) {
    return Unreadable(name, tjGetErrorStr2(handle.get()));
  }
  if (static_cast<uint64_t>(width) * height > (uint64_t{1} << 28)) {
    return Unreadable(name, "image larger than 2^28 pixels");
  }
  Image image;
  image.width = width;
  image.height = height;
  image.channels = colorspace == TJCS_GRAY ? 1 : 3;
  image.pixels.resize(static_cast<size_t>(width) * height * image.channels);
  const int pixel_format = image.channels == 1 ? TJPF_GRAY : TJPF_RGB;
  // Warnings (for example a premature end of data) are errors here: a
  // truncated JPEG would otherwise decode into a partly grey image.
  if (tjDecompress2(handle.get(), src, bytes.size(), image.pixels.data(), width,
                    0, height, pixel_format, TJFLAG_STOPONWARNING) != 0) {
    return Unreadable(name, tjGetErrorStr2(handle.get()));
  }
  return image;
}

void PngWrite(png_structp png, png_bytep data, png_size_t length) {
  auto* out = static_cast<std::string*>(png_get_io_ptr(png));
  out->append(reinterpret_cast<const char*>(data), length);
}

void PngFlush(png_structp) {}

}  // namespace

absl::StatusOr<Image> DecodeImage(const std::string& bytes,
                                  const std::string& name) {
  static const unsigned char kPngSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSig, 8) == 0) {
    return DecodePng(bytes, name);
  }
  if (bytes.size() >= 3 && static_cast<uint8_t>(bytes[0]) == 0xff &&
      static_cast<uint8_t>(bytes[1]) == 0xd8 &&
      static_cast<uint8_t>(bytes[2]) == 0xff) {
    return DecodeJpeg(bytes, name);
  }
  return Unreadable(name, "not a PNG or JPEG file");
}

absl::StatusOr<ImageInfo> PeekImageInfo(const std::string& bytes,
                                        const std::string& name) {
  static const unsigned char kPngSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() >= 8 && std::memcmp(b, kPngSig, 8) == 0) {
    // Signature, then the IHDR chunk: length, "IHDR", width, height (both
    // big-endian), bit depth, colour type.
    if (bytes.size() < 26 || std::memcmp(b + 12, "IHDR", 4) != 0) {
      return Unreadable(name, "truncated or malformed PNG header");
    }
    auto be32 = [&](size_t at) {
      return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) |
             (uint32_t{b[at + 2]} << 8) | uint32_t{b[at + 3]};
    };
    const uint32_t width = be32(16), height = be32(20);
    if (width == 0 || height == 0 || width > (1u << 28) || height > (1u << 28)) {
      return Unreadable(name, "bad PNG dimensions");
    }
    // Colour types 0 (gray) and 4 (gray + alpha) decode to one channel;
    // 2 (RGB), 3 (palette), 6 (RGBA) to three, as DecodePng strips alpha.
    const int color_type = b[25];
    if (color_type != 0 && color_type != 2 && color_type != 3 &&
        color_type != 4 && color_type != 6) {
      return Unreadable(name, "bad PNG colour type");
    }
    return ImageInfo{static_cast<int>(width), static_cast<int>(height),
                     color_type == 0 || color_type == 4 ? 1 : 3};
  }
  if (bytes.size() >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) {
    std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitDecompress(), tjDestroy);
    if (handle == nullptr) return absl::ResourceExhaustedError("tjInitDecompress");
    int width = 0, height = 0, subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(handle.get(), b, bytes.size(), &width, &height,
                            &subsamp, &colorspace) != 0) {
      return Unreadable(name, tjGetErrorStr2(handle.get()));
    }
    return ImageInfo{width, height, colorspace == TJCS_GRAY ? 1 : 3};
  }
  return Unreadable(name, "not a PNG or JPEG file");
}

absl::StatusOr<Image> ReadImage(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return DecodeImage(bytes, path);
}

absl::StatusOr<std::string> EncodePng(const Image& image, int compression_level) {
  if (image.width <= 0 || image.height <= 0 ||
      (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height *
                                 image.channels) {
    return absl::InvalidArgumentError("EncodePng: inconsistent image");
  }
  // Written through a pointer libpng holds, so that a longjmp leaves no
  // automatic object in an indeterminate state.
  const auto out = std::make_unique<std::string>();
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (png == nullptr) return absl::ResourceExhaustedError("png_create_write_struct");
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return absl::InternalError("libpng failed to encode an image");
  }
  png_set_write_fn(png, out.get(), PngWrite, PngFlush);
  png_set_compression_level(png, std::clamp(compression_level, 0, 9));
  png_set_IHDR(png, info, image.width, image.height, 8,
               image.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const size_t stride = static_cast<size_t>(image.width) * image.channels;
  for (int y = 0; y < image.height; ++y) {
    png_write_row(png, const_cast<png_bytep>(image.pixels.data() + y * stride));
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return std::move(*out);
}

absl::Status WritePng(const std::string& path, const Image& image,
                      int compression_level) {
  ASSIGN_OR_RETURN(std::string bytes, EncodePng(image, compression_level));
  return WriteFileAtomically(path, bytes);
}

namespace {

std::string LowerExtension(const std::string& path) {
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos) return "";
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext;
}

}  // namespace

bool HasImageExtension(const std::string& path) {
  const std::string ext = LowerExtension(path);
  return ext == "png" || ext == "jpg" || ext == "jpeg";
}

bool HasUnsupportedImageExtension(const std::string& path) {
  static const char* const kOthers[] = {
      "bmp", "dib", "gif", "tif", "tiff", "webp", "ppm", "pgm", "pbm", "pnm",
      "tga", "ico", "jp2", "j2k", "jpe", "jfif", "apng", "psd", "dds"};
  const std::string ext = LowerExtension(path);
  for (const char* other : kOthers) {
    if (ext == other) return true;
  }
  return false;
}

}  // namespace pgan
