// Writes MP4s with Mp4Writer and reads them back with FFmpeg's decoder.
#include "common/video_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

#include "tests/common/test_dir.h"

namespace pgan {
namespace {

using ::pgan::testing::TestDir;

// A frame that moves with `t`: smooth gradients, which H.264 keeps well.
Image Frame(int width, int height, int t) {
  Image image{width, height, 3, {}};
  image.pixels.resize(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &image.pixels[(static_cast<size_t>(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>((x * 4 + t * 8) % 256);
      p[1] = static_cast<uint8_t>(y * 255 / (height - 1));
      p[2] = static_cast<uint8_t>(128 + 100 * std::sin((x + y + t) * 0.1));
    }
  }
  return image;
}

struct Decoded {
  int width = 0, height = 0;
  double fps = 0;
  std::string codec;
  std::vector<Image> frames;
};

// Every frame of the file's video stream, as RGB.
Decoded Decode(const std::string& path) {
  Decoded out;
  AVFormatContext* format = nullptr;
  if (avformat_open_input(&format, path.c_str(), nullptr, nullptr) < 0) {
    ADD_FAILURE() << "cannot open " << path;
    return out;
  }
  avformat_find_stream_info(format, nullptr);
  const AVCodec* decoder = nullptr;
  const int index =
      av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
  EXPECT_GE(index, 0);
  if (index < 0) {
    avformat_close_input(&format);
    return out;
  }
  AVStream* stream = format->streams[index];
  out.codec = avcodec_get_name(stream->codecpar->codec_id);
  out.fps = av_q2d(stream->avg_frame_rate);
  AVCodecContext* context = avcodec_alloc_context3(decoder);
  avcodec_parameters_to_context(context, stream->codecpar);
  avcodec_open2(context, decoder, nullptr);
  out.width = context->width;
  out.height = context->height;
  SwsContext* sws = sws_getContext(out.width, out.height, context->pix_fmt,
                                   out.width, out.height, AV_PIX_FMT_RGB24,
                                   SWS_BICUBIC, nullptr, nullptr, nullptr);
  AVPacket* packet = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  const auto drain = [&] {
    while (avcodec_receive_frame(context, frame) == 0) {
      Image image{out.width, out.height, 3, {}};
      image.pixels.resize(static_cast<size_t>(out.width) * out.height * 3);
      uint8_t* dst[1] = {image.pixels.data()};
      const int stride[1] = {3 * out.width};
      sws_scale(sws, frame->data, frame->linesize, 0, out.height, dst, stride);
      out.frames.push_back(std::move(image));
    }
  };
  while (av_read_frame(format, packet) >= 0) {
    if (packet->stream_index == index) {
      avcodec_send_packet(context, packet);
      drain();
    }
    av_packet_unref(packet);
  }
  avcodec_send_packet(context, nullptr);
  drain();
  av_frame_free(&frame);
  av_packet_free(&packet);
  sws_freeContext(sws);
  avcodec_free_context(&context);
  avformat_close_input(&format);
  return out;
}

double MeanAbsDiff(const Image& a, const Image& b) {
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    sum += std::abs(int{a.pixels[i]} - int{b.pixels[i]});
  }
  return sum / a.pixels.size();
}

TEST(Mp4WriterTest, WritesH264ThatDecodesToTheFrames) {
  ASSERT_TRUE(Mp4Writer::Available());
  TestDir dir;
  const std::string path = dir.file("lerp.mp4");
  constexpr int kWidth = 96, kHeight = 64, kFrames = 30;
  auto writer = Mp4Writer::Open(path, {kWidth, kHeight, 60});
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (int t = 0; t < kFrames; ++t) {
    ASSERT_TRUE((*writer)->Append(Frame(kWidth, kHeight, t)).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path)) << "visible before Close()";
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".part"));

  const Decoded video = Decode(path);
  EXPECT_EQ(video.codec, "h264");
  EXPECT_EQ(video.width, kWidth);
  EXPECT_EQ(video.height, kHeight);
  EXPECT_DOUBLE_EQ(video.fps, 60);
  ASSERT_EQ(video.frames.size(), static_cast<size_t>(kFrames));
  for (int t = 0; t < kFrames; ++t) {
    // yuv420p halves the chroma resolution; at 12 Mbit/s little else is lost.
    EXPECT_LT(MeanAbsDiff(video.frames[t], Frame(kWidth, kHeight, t)), 6.0)
        << "frame " << t;
  }
  // In order: each decoded frame is nearest its own source frame.
  EXPECT_LT(MeanAbsDiff(video.frames[10], Frame(kWidth, kHeight, 10)),
            MeanAbsDiff(video.frames[10], Frame(kWidth, kHeight, 13)));
}

TEST(Mp4WriterTest, AnUnfinishedVideoLeavesNoFile) {
  TestDir dir;
  const std::string path = dir.file("cut.mp4");
  {
    auto writer = Mp4Writer::Open(path, {32, 32, 60});
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Append(Frame(32, 32, 0)).ok());
    EXPECT_TRUE(std::filesystem::exists(path + ".part"));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".part"));
}

TEST(Mp4WriterTest, BadSizesAndPlacesAreRefusedNamingTheFile) {
  TestDir dir;
  const std::string path = dir.file("odd.mp4");
  auto odd = Mp4Writer::Open(path, {33, 32, 60});
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.status().message().find(path), std::string::npos);
  EXPECT_NE(odd.status().message().find("even"), std::string::npos);

  auto nowhere = Mp4Writer::Open(dir.file("missing/dir/v.mp4"), {32, 32, 60});
  ASSERT_FALSE(nowhere.ok());
  EXPECT_NE(nowhere.status().message().find("missing/dir/v.mp4"),
            std::string::npos);

  auto writer = Mp4Writer::Open(dir.file("v.mp4"), {32, 32, 60});
  ASSERT_TRUE(writer.ok()) << writer.status();
  const absl::Status wrong = (*writer)->Append(Frame(64, 32, 0));
  EXPECT_TRUE(absl::IsInvalidArgument(wrong)) << wrong;
  EXPECT_NE(wrong.message().find("expected RGB 32x32"), std::string::npos)
      << wrong;
}

}  // namespace
}  // namespace pgan
