#include "common/video_writer.h"

#include <filesystem>
#include <system_error>
#include <utility>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace pgan {
namespace {

std::string AvError(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof(text));
  return text;
}

}  // namespace

struct Mp4Writer::Codec {
  AVFormatContext* format = nullptr;
  AVCodecContext* encoder = nullptr;
  AVStream* stream = nullptr;
  SwsContext* sws = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;

  ~Codec() {
    av_packet_free(&packet);
    av_frame_free(&frame);
    sws_freeContext(sws);
    avcodec_free_context(&encoder);
    if (format != nullptr) {
      if (format->pb != nullptr) avio_closep(&format->pb);
      avformat_free_context(format);
    }
  }
};

bool Mp4Writer::Available() { return true; }

Mp4Writer::Mp4Writer(std::string path, const VideoOptions& options)
    : path_(std::move(path)), options_(options) {}

Mp4Writer::~Mp4Writer() {
  if (closed_) return;
  codec_.reset();  // Closes the file before it is removed.
  std::error_code ec;
  std::filesystem::remove(path_ + ".part", ec);
}

absl::StatusOr<std::unique_ptr<Mp4Writer>> Mp4Writer::Open(
    const std::string& path, const VideoOptions& options) {
  const VideoOptions& o = options;
  if (o.width < 2 || o.height < 2 || o.width % 2 != 0 || o.height % 2 != 0 ||
      o.fps < 1 || o.bit_rate < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        ": expected an even width and height, fps >= 1 and a bit rate; "
        "got ",
        o.width, "x", o.height, " at ", o.fps, " fps"));
  }
  std::unique_ptr<Mp4Writer> writer(new Mp4Writer(path, options));
  writer->codec_ = std::make_unique<Codec>();
  Codec& c = *writer->codec_;
  const std::string part = path + ".part";
  const auto fail = [&](const std::string& what, int code) {
    return absl::InternalError(
        absl::StrCat(path, ": ", what, ": ", AvError(code)));
  };
  av_log_set_level(AV_LOG_ERROR);
  int rc =
      avformat_alloc_output_context2(&c.format, nullptr, "mp4", part.c_str());
  if (rc < 0 || c.format == nullptr) return fail("no MP4 muxer", rc);
  const AVCodec* h264 = avcodec_find_encoder_by_name("libx264");
  if (h264 == nullptr) h264 = avcodec_find_encoder(AV_CODEC_ID_H264);
  if (h264 == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        path,
        ": the installed libavcodec has no H.264 encoder (Debian's "
        "libavcodec59 has libx264)"));
  }
  c.stream = avformat_new_stream(c.format, nullptr);
  c.encoder = avcodec_alloc_context3(h264);
  c.packet = av_packet_alloc();
  c.frame = av_frame_alloc();
  if (c.stream == nullptr || c.encoder == nullptr || c.packet == nullptr ||
      c.frame == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": out of memory setting up the encoder"));
  }
  c.encoder->width = o.width;
  c.encoder->height = o.height;
  c.encoder->time_base = AVRational{1, o.fps};
  c.encoder->framerate = AVRational{o.fps, 1};
  c.encoder->pix_fmt = AV_PIX_FMT_YUV420P;
  c.encoder->bit_rate = o.bit_rate;
  if (c.format->oformat->flags & AVFMT_GLOBALHEADER) {
    c.encoder->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  }
  rc = avcodec_open2(c.encoder, h264, nullptr);
  if (rc < 0) return fail("cannot open the H.264 encoder", rc);
  rc = avcodec_parameters_from_context(c.stream->codecpar, c.encoder);
  if (rc < 0) return fail("cannot set the stream parameters", rc);
  c.stream->time_base = c.encoder->time_base;
  rc = avio_open(&c.format->pb, part.c_str(), AVIO_FLAG_WRITE);
  if (rc < 0) return fail(absl::StrCat("cannot create ", part), rc);
  rc = avformat_write_header(c.format, nullptr);
  if (rc < 0) return fail("cannot write the MP4 header", rc);
  c.frame->format = AV_PIX_FMT_YUV420P;
  c.frame->width = o.width;
  c.frame->height = o.height;
  rc = av_frame_get_buffer(c.frame, 0);
  if (rc < 0) return fail("cannot allocate a frame", rc);
  c.sws = sws_getContext(o.width, o.height, AV_PIX_FMT_RGB24, o.width, o.height,
                         AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr, nullptr,
                         nullptr);
  if (c.sws == nullptr) {
    return absl::InternalError(
        absl::StrCat(path, ": libswscale cannot convert RGB to yuv420p"));
  }
  return writer;
}

namespace {

// Sends `frame` (null: flush) and writes every packet the encoder returns.
absl::Status Encode(AVFormatContext* format, AVCodecContext* encoder,
                    AVStream* stream, AVPacket* packet, const AVFrame* frame,
                    const std::string& path) {
  int rc = avcodec_send_frame(encoder, frame);
  if (rc < 0) {
    return absl::InternalError(
        absl::StrCat(path, ": encoding a frame: ", AvError(rc)));
  }
  for (;;) {
    rc = avcodec_receive_packet(encoder, packet);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return absl::OkStatus();
    if (rc < 0) {
      return absl::InternalError(
          absl::StrCat(path, ": encoding a frame: ", AvError(rc)));
    }
    // Every frame lasts one tick of 1/fps; without it the muxer leaves the
    // last frame without a duration and the stream's rate comes out high.
    if (packet->duration == 0) packet->duration = 1;
    av_packet_rescale_ts(packet, encoder->time_base, stream->time_base);
    packet->stream_index = stream->index;
    rc = av_interleaved_write_frame(format, packet);  // Takes the packet.
    if (rc < 0) {
      return absl::InternalError(
          absl::StrCat(path, ": writing a frame: ", AvError(rc)));
    }
  }
}

}  // namespace

absl::Status Mp4Writer::Append(const Image& image) {
  if (closed_ || codec_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": the video is closed"));
  }
  if (image.width != options_.width || image.height != options_.height ||
      image.channels != 3 ||
      image.pixels.size() !=
          static_cast<size_t>(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": frame ", frames_, " is ", image.width, "x", image.height,
        " with ", image.channels, " channels; expected RGB ", options_.width,
        "x", options_.height));
  }
  Codec& c = *codec_;
  const int rc = av_frame_make_writable(c.frame);
  if (rc < 0) {
    return absl::InternalError(absl::StrCat(path_, ": ", AvError(rc)));
  }
  const uint8_t* source[1] = {image.pixels.data()};
  const int stride[1] = {3 * image.width};
  sws_scale(c.sws, source, stride, 0, image.height, c.frame->data,
            c.frame->linesize);
  c.frame->pts = frames_;
  RETURN_IF_ERROR(
      Encode(c.format, c.encoder, c.stream, c.packet, c.frame, path_));
  ++frames_;
  return absl::OkStatus();
}

absl::Status Mp4Writer::Close() {
  if (closed_ || codec_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": the video is closed"));
  }
  Codec& c = *codec_;
  RETURN_IF_ERROR(
      Encode(c.format, c.encoder, c.stream, c.packet, nullptr, path_));
  int rc = av_write_trailer(c.format);
  if (rc < 0) {
    return absl::InternalError(
        absl::StrCat(path_, ": writing the MP4 index: ", AvError(rc)));
  }
  rc = avio_closep(&c.format->pb);
  if (rc < 0) {
    return absl::InternalError(
        absl::StrCat(path_, ": closing the file: ", AvError(rc)));
  }
  std::error_code ec;
  std::filesystem::rename(path_ + ".part", path_, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat(path_, ": cannot move it into place: ", ec.message()));
  }
  closed_ = true;
  codec_.reset();
  return absl::OkStatus();
}

}  // namespace pgan
