#include "common/resample.h"

#include <gtest/gtest.h>

#include <vector>

namespace pgan {
namespace {

// The test pattern used to produce the PIL figures below:
// value(x, y, c) = ((x * 37 + y * 101 + c * 59) * 7) % 256.
Image Pattern(int w, int h, int channels) {
  Image image{w, h, channels, {}};
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < channels; ++c) {
        image.pixels.push_back(
            static_cast<uint8_t>(((x * 37 + y * 101 + c * 59) * 7) % 256));
      }
    }
  }
  return image;
}

// Expected values: PIL 9.4, Image.fromarray(pattern).resize(size, LANCZOS).
TEST(ResizeLanczosTest, DownscaleMatchesPil) {
  auto out = ResizeLanczos(Pattern(12, 12, 1), 5, 5);
  ASSERT_TRUE(out.ok()) << out.status();
  const std::vector<uint8_t> pil = {
      117, 124, 132, 139, 146, 92,  99,  107, 114, 121, 131, 138, 146,
      153, 160, 105, 112, 120, 127, 134, 154, 161, 169, 176, 183};
  EXPECT_EQ(out->width, 5);
  EXPECT_EQ(out->height, 5);
  EXPECT_EQ(out->pixels, pil);
}

TEST(ResizeLanczosTest, UpscaleWithClippingMatchesPil) {
  auto out = ResizeLanczos(Pattern(5, 4, 1), 8, 8);
  ASSERT_TRUE(out.ok()) << out.status();
  const std::vector<uint8_t> pil = {
      0,   0,   0,   0,   0,   0,   0,   0,   40,  41,  43,  45,  47,
      49,  51,  52,  149, 150, 152, 154, 156, 158, 160, 161, 213, 214,
      216, 218, 220, 222, 224, 225, 169, 170, 172, 174, 176, 178, 180,
      181, 107, 108, 110, 112, 114, 116, 118, 119, 80,  81,  83,  85,
      87,  89,  91,  92,  67,  68,  70,  72,  74,  76,  78,  79};
  EXPECT_EQ(out->pixels, pil);
}

TEST(ResizeLanczosTest, RgbNonSquareMatchesPil) {
  auto out = ResizeLanczos(Pattern(9, 7, 3), 4, 3);
  ASSERT_TRUE(out.ok()) << out.status();
  const std::vector<uint8_t> pil = {
      117, 102, 113, 123, 108, 70,  131, 116, 82,  137, 122, 87,
      90,  157, 124, 96,  163, 124, 104, 171, 132, 110, 177, 138,
      141, 106, 89,  147, 112, 97,  155, 120, 105, 161, 126, 111};
  EXPECT_EQ(out->channels, 3);
  EXPECT_EQ(out->pixels, pil);
}

TEST(ResizeLanczosTest, SameSizeIsACopy) {
  const Image in = Pattern(6, 6, 3);
  auto out = ResizeLanczos(in, 6, 6);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->pixels, in.pixels);
}

TEST(ResizeLanczosTest, ConstantImageStaysConstant) {
  Image in{10, 10, 1, std::vector<uint8_t>(100, 77)};
  for (int size : {3, 4, 16, 31}) {
    auto out = ResizeLanczos(in, size, size);
    ASSERT_TRUE(out.ok());
    for (uint8_t v : out->pixels) ASSERT_EQ(v, 77) << "size " << size;
  }
}

TEST(ResizeLanczosTest, RejectsBadSizes) {
  EXPECT_FALSE(ResizeLanczos(Pattern(4, 4, 1), 0, 4).ok());
  Image broken{4, 4, 3, std::vector<uint8_t>(5)};
  EXPECT_FALSE(ResizeLanczos(broken, 2, 2).ok());
}

TEST(CenterCropSquareTest, KeepsTheMiddleAndDropsTheOddPixelAtTheEnd) {
  // 5 wide, 2 high: columns 1..2 survive ((5 - 2) // 2 = 1).
  Image in{5, 2, 1, {0, 1, 2, 3, 4, 10, 11, 12, 13, 14}};
  const Image out = CenterCropSquare(in);
  EXPECT_EQ(out.width, 2);
  EXPECT_EQ(out.height, 2);
  EXPECT_EQ(out.pixels, (std::vector<uint8_t>{1, 2, 11, 12}));
  // Tall RGB: rows 1..2 of 4.
  Image tall{1, 4, 3, {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3}};
  const Image cropped = CenterCropSquare(tall);
  EXPECT_EQ(cropped.pixels, (std::vector<uint8_t>{1, 1, 1}));
}

TEST(PadCenteredTest, PadsWithBlackAroundTheImage) {
  Image in{2, 1, 1, {5, 6}};
  const Image out = PadCentered(in, 4, 3);
  EXPECT_EQ(out.width, 4);
  EXPECT_EQ(out.height, 3);
  EXPECT_EQ(out.pixels,
            (std::vector<uint8_t>{0, 0, 0, 0, 0, 5, 6, 0, 0, 0, 0, 0}));
}

TEST(GrayToRgbTest, RepeatsTheChannel) {
  Image in{2, 1, 1, {9, 200}};
  const Image out = GrayToRgb(in);
  EXPECT_EQ(out.channels, 3);
  EXPECT_EQ(out.pixels, (std::vector<uint8_t>{9, 9, 9, 200, 200, 200}));
  EXPECT_EQ(GrayToRgb(out).pixels, out.pixels);
}

}  // namespace
}  // namespace pgan
