#include "common/image_io.h"

#include <turbojpeg.h>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "tests/common/test_dir.h"

namespace pgan {
namespace {

using ::pgan::testing::TestDir;

Image Gradient(int w, int h, int channels) {
  Image image{w, h, channels, {}};
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < channels; ++c) {
        image.pixels.push_back(static_cast<uint8_t>((x * 7 + y * 13 + c * 50) % 256));
      }
    }
  }
  return image;
}

std::string EncodeJpeg(const Image& image) {
  tjhandle handle = tjInitCompress();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  tjCompress2(handle, image.pixels.data(), image.width, 0, image.height, TJPF_RGB,
              &buffer, &size, TJSAMP_444, 95, 0);
  std::string out(reinterpret_cast<char*>(buffer), size);
  tjFree(buffer);
  tjDestroy(handle);
  return out;
}

TEST(ImageIoTest, PngRoundTripIsLossless) {
  for (int channels : {1, 3}) {
    const Image image = Gradient(17, 9, channels);
    for (int level : {0, 6}) {
      auto png = EncodePng(image, level);
      ASSERT_TRUE(png.ok()) << png.status();
      auto decoded = DecodeImage(*png, "mem.png");
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      EXPECT_EQ(decoded->width, 17);
      EXPECT_EQ(decoded->height, 9);
      EXPECT_EQ(decoded->channels, channels);
      EXPECT_EQ(decoded->pixels, image.pixels);
    }
  }
}

TEST(ImageIoTest, TruncatedPngIsAnErrorNamingTheFile) {
  const std::string png = *EncodePng(Gradient(32, 32, 3), 0);
  auto decoded = DecodeImage(png.substr(0, png.size() / 2), "cut.png");
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("cut.png"), std::string::npos);
}

TEST(ImageIoTest, JpegDecodesCloseToTheOriginal) {
  const Image image = Gradient(16, 16, 3);
  auto decoded = DecodeImage(EncodeJpeg(image), "a.jpg");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->pixels.size(), image.pixels.size());
  double err = 0;
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    err += std::abs(int(decoded->pixels[i]) - int(image.pixels[i]));
  }
  EXPECT_LT(err / image.pixels.size(), 8.0);
}

TEST(ImageIoTest, TruncatedJpegIsAnError) {
  const std::string jpeg = EncodeJpeg(Gradient(64, 64, 3));
  EXPECT_FALSE(DecodeImage(jpeg.substr(0, jpeg.size() / 2), "cut.jpg").ok());
}

TEST(ImageIoTest, UnknownFormatIsAnError) {
  auto decoded = DecodeImage("GIF89a....", "x.gif");
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("not a PNG or JPEG"), std::string::npos);
}

TEST(ImageIoTest, WritePngThenReadImage) {
  TestDir dir;
  const Image image = Gradient(8, 8, 3);
  ASSERT_TRUE(WritePng(dir.file("a.png"), image).ok());
  auto read = ReadImage(dir.file("a.png"));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->pixels, image.pixels);
  EXPECT_TRUE(HasImageExtension("x/y.JPEG"));
  EXPECT_FALSE(HasImageExtension("x/y.txt"));
}

TEST(ImageIoTest, PeekImageInfoReadsSizeFromTheHeaderOnly) {
  for (int channels : {1, 3}) {
    const std::string png = *EncodePng(Gradient(21, 13, channels), 0);
    auto info = PeekImageInfo(png.substr(0, kPngHeaderBytes), "head.png");
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->width, 21);
    EXPECT_EQ(info->height, 13);
    EXPECT_EQ(info->channels, channels);
  }
  auto jpeg = PeekImageInfo(EncodeJpeg(Gradient(16, 8, 3)), "a.jpg");
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  EXPECT_EQ(jpeg->width, 16);
  EXPECT_EQ(jpeg->channels, 3);
  auto bad = PeekImageInfo("GIF89a", "x.gif");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("x.gif"), std::string::npos);
  EXPECT_FALSE(PeekImageInfo(std::string("\x89PNG\r\n\x1a\n", 8), "cut.png").ok());
}

TEST(ImageIoTest, OtherImageFormatsAreRecognisedAsUnsupported) {
  EXPECT_TRUE(HasUnsupportedImageExtension("a/b.GIF"));
  EXPECT_TRUE(HasUnsupportedImageExtension("x.webp"));
  EXPECT_FALSE(HasUnsupportedImageExtension("x.png"));
  EXPECT_FALSE(HasUnsupportedImageExtension("dataset.json"));
}

}  // namespace
}  // namespace pgan
