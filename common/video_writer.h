// MP4 video through FFmpeg's libraries (libavformat, libavcodec, libswscale)
// for `pgan video`: H.264 by libx264 in yuv420p at a set bit rate, as the
// reference's gen_video.py writes it through imageio. The file appears
// under its name only when Close() succeeds; until then frames go to
// "<path>.part", which a writer destroyed without Close() removes. Builds
// without FFmpeg's libraries have the same API, and Open() says how to get
// them. Not thread-safe.
#ifndef PGAN_COMMON_VIDEO_WRITER_H_
#define PGAN_COMMON_VIDEO_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/image_io.h"

namespace pgan {

struct VideoOptions {
  int width = 0;   // Even (yuv420p halves the chroma planes).
  int height = 0;  // Even.
  int fps = 60;
  int64_t bit_rate = 12'000'000;  // The reference's bitrate='12M'.
};

class Mp4Writer {
 public:
  // Whether this build can write MP4 at all.
  static bool Available();
  // Errors name `path`: an unwritable location, sizes that are not even,
  // no H.264 encoder in the installed libavcodec, or a build without FFmpeg.
  static absl::StatusOr<std::unique_ptr<Mp4Writer>> Open(
      const std::string& path, const VideoOptions& options);
  ~Mp4Writer();
  Mp4Writer(const Mp4Writer&) = delete;
  Mp4Writer& operator=(const Mp4Writer&) = delete;

  // One RGB frame of the options' size.
  absl::Status Append(const Image& frame);
  // Flushes the encoder, finishes the file and renames it into place.
  absl::Status Close();

  int64_t frames() const { return frames_; }

 private:
  struct Codec;  // FFmpeg's state, in the .cc.
  Mp4Writer(std::string path, const VideoOptions& options);

  const std::string path_;
  const VideoOptions options_;
  std::unique_ptr<Codec> codec_;
  int64_t frames_ = 0;
  bool closed_ = false;
};

}  // namespace pgan

#endif  // PGAN_COMMON_VIDEO_WRITER_H_
