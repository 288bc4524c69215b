// Mp4Writer in builds without FFmpeg's libraries: Open() says what to
// install (see video_writer.h).
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/video_writer.h"

namespace pgan {

struct Mp4Writer::Codec {};

bool Mp4Writer::Available() { return false; }

Mp4Writer::Mp4Writer(std::string path, const VideoOptions& options)
    : path_(std::move(path)), options_(options) {}

Mp4Writer::~Mp4Writer() = default;

absl::StatusOr<std::unique_ptr<Mp4Writer>> Mp4Writer::Open(
    const std::string& path, const VideoOptions&) {
  return absl::FailedPreconditionError(absl::StrCat(
      path,
      ": this pgan was built without FFmpeg's libraries, so it writes "
      "no MP4 (install libavformat-dev, libavcodec-dev and "
      "libswscale-dev and rebuild, or write PNG frames instead)"));
}

absl::Status Mp4Writer::Append(const Image&) {
  return absl::FailedPreconditionError("built without FFmpeg");
}

absl::Status Mp4Writer::Close() {
  return absl::FailedPreconditionError("built without FFmpeg");
}

}  // namespace pgan
