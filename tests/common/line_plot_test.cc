#include "common/line_plot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace pgan::plot {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointwise;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int CountColor(const Canvas& canvas, Color c) {
  int count = 0;
  for (int y = 0; y < canvas.height(); ++y) {
    for (int x = 0; x < canvas.width(); ++x) count += canvas.At(x, y) == c;
  }
  return count;
}

int CountColor(const Image& image, Color c) {
  int count = 0;
  for (size_t i = 0; i + 2 < image.pixels.size(); i += 3) {
    count += image.pixels[i] == c.r && image.pixels[i + 1] == c.g &&
             image.pixels[i + 2] == c.b;
  }
  return count;
}

bool HasColorInColumns(const Image& image, Color c, int x0, int x1) {
  for (int y = 0; y < image.height; ++y) {
    for (int x = x0; x < x1; ++x) {
      const size_t i = (static_cast<size_t>(y) * image.width + x) * 3;
      if (image.pixels[i] == c.r && image.pixels[i + 1] == c.g &&
          image.pixels[i + 2] == c.b) {
        return true;
      }
    }
  }
  return false;
}

TEST(NiceTicksTest, RoundsOutToOneTwoFiveSteps) {
  EXPECT_THAT(NiceTicks(0, 97, 5), ElementsAre(0, 20, 40, 60, 80, 100));
  EXPECT_THAT(NiceTicks(-1, 1, 4), ElementsAre(-1, -0.5, 0, 0.5, 1));
  EXPECT_THAT(NiceTicks(3, 9, 3), ElementsAre(2, 4, 6, 8, 10));
  EXPECT_THAT(NiceTicks(12.3, 48.1, 4), ElementsAre(10, 20, 30, 40, 50));
  EXPECT_THAT(NiceTicks(0.013, 0.048, 4),
              Pointwise(DoubleNear(1e-12),
                        std::vector<double>{0.01, 0.02, 0.03, 0.04, 0.05}));
  EXPECT_THAT(NiceTicks(0, 12000, 6),
              ElementsAre(0, 2000, 4000, 6000, 8000, 10000, 12000));
}

TEST(NiceTicksTest, StepsAreMultiplesNotAccumulated) {
  // 0.1 added seven times is 0.7000000000000001; the ticks print exactly.
  const std::vector<double> ticks = NiceTicks(0, 0.7, 7);
  ASSERT_EQ(ticks.size(), 8u);
  EXPECT_EQ(FormatTick(ticks[7], 0.1), "0.7");
  EXPECT_EQ(ticks[0], 0.0);
  EXPECT_FALSE(std::signbit(ticks[0]));
}

TEST(NiceTicksTest, DegenerateRanges) {
  EXPECT_GE(NiceTicks(5, 5).size(), 2u);
  EXPECT_LE(NiceTicks(5, 5).front(), 5);
  EXPECT_GE(NiceTicks(5, 5).back(), 5);
  EXPECT_THAT(NiceTicks(0, 0, 2), ElementsAre(-1, 0, 1));
  EXPECT_THAT(NiceTicks(kNaN, 1), ElementsAre(0, 1));
  EXPECT_THAT(NiceTicks(0, std::numeric_limits<double>::infinity()),
              ElementsAre(0, 1));
}

TEST(FormatTickTest, DecimalsFollowTheStep) {
  EXPECT_EQ(FormatTick(40, 20), "40");
  EXPECT_EQ(FormatTick(0.5, 0.5), "0.5");
  EXPECT_EQ(FormatTick(-1, 0.5), "-1.0");
  EXPECT_EQ(FormatTick(0.15, 0.05), "0.15");
  EXPECT_EQ(FormatTick(-1e-18, 0.1), "0.0");
  EXPECT_EQ(FormatTick(2e7, 1e7), "2e+07");
}

TEST(CanvasTest, HorizontalLineTouchesExactlyItsPixels) {
  Canvas canvas(20, 10, kWhite);
  canvas.DrawLine(2, 5, 12, 5, kRed);
  for (int x = 0; x < 20; ++x) {
    EXPECT_EQ(canvas.At(x, 5) == kRed, x >= 2 && x <= 12) << x;
  }
  EXPECT_EQ(CountColor(canvas, kRed), 11);
}

TEST(CanvasTest, DiagonalAndThickLines) {
  Canvas canvas(10, 10, kWhite);
  canvas.DrawLine(0, 0, 9, 9, kBlue);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(canvas.At(i, i), kBlue);
  EXPECT_EQ(CountColor(canvas, kBlue), 10);

  Canvas thick(10, 10, kWhite);
  thick.DrawLine(1, 4, 8, 4, kGreen, 2);
  // A 2x2 brush on columns 1-8: rows 4 and 5, columns 1-9.
  EXPECT_EQ(CountColor(thick, kGreen), 18);
  EXPECT_EQ(thick.At(1, 5), kGreen);
}

TEST(CanvasTest, ClippingKeepsDrawingInside) {
  Canvas canvas(10, 10, kWhite);
  canvas.SetClip(2, 2, 8, 8);
  canvas.DrawLine(-1e12, 5, 1e12, 5, kRed);  // Must not walk 2e12 pixels.
  canvas.FillRect(0, 0, 10, 1, kRed);
  EXPECT_EQ(CountColor(canvas, kRed), 6);
  EXPECT_EQ(canvas.At(1, 5), kWhite);
  EXPECT_EQ(canvas.At(2, 5), kRed);
  EXPECT_EQ(canvas.At(7, 5), kRed);
  EXPECT_EQ(canvas.At(8, 5), kWhite);
  canvas.ResetClip();
  canvas.DrawRect(0, 0, 10, 10, kBlue);
  EXPECT_EQ(CountColor(canvas, kBlue), 36);
  canvas.DrawLine(0, 0, kNaN, 3, kGreen);  // Non-finite: nothing.
  EXPECT_EQ(CountColor(canvas, kGreen), 0);
}

TEST(CanvasTest, TextDrawsGlyphsInTheirCells) {
  Canvas canvas(40, 12, kWhite);
  canvas.DrawText(1, 2, "1", kBlack);
  // '1' is a vertical stroke in column 2 with a foot in columns 1-3.
  EXPECT_EQ(canvas.At(1 + 2, 2), kBlack);
  EXPECT_EQ(canvas.At(1 + 2, 2 + 4), kBlack);
  EXPECT_EQ(canvas.At(1 + 1, 2 + 6), kBlack);
  EXPECT_EQ(canvas.At(1 + 3, 2 + 6), kBlack);
  EXPECT_EQ(canvas.At(1 + 0, 2 + 4), kWhite);
  for (int y = 0; y < 12; ++y) {
    for (int x = 0; x < 40; ++x) {
      if (canvas.At(x, y) == kBlack) {
        EXPECT_TRUE(x >= 1 && x < 1 + kGlyphWidth && y >= 2 &&
                    y < 2 + kGlyphHeight)
            << x << "," << y;
      }
    }
  }
  // The second character starts one cell to the right; scale 2 doubles.
  Canvas two(40, 20, kWhite);
  two.DrawText(0, 0, "..", kBlack, 2);
  EXPECT_EQ(CountColor(two, kBlack), 2 * 4 * 4);
  EXPECT_EQ(two.At(kCellWidth * 2 + 2, 12), kBlack);
  EXPECT_EQ(TextWidth("ab", 1), 11);
  EXPECT_EQ(TextWidth("ab", 2), 22);
  EXPECT_EQ(TextWidth("", 2), 0);
}

TEST(CanvasTest, EveryPrintableCharacterHasAGlyph) {
  for (int c = 33; c <= 126; ++c) {
    Canvas canvas(kCellWidth, kCellHeight, kWhite);
    canvas.DrawText(0, 0, std::string(1, static_cast<char>(c)), kBlack);
    EXPECT_GT(CountColor(canvas, kBlack), 0) << static_cast<char>(c);
  }
  Canvas space(kCellWidth, kCellHeight, kWhite);
  space.DrawText(0, 0, " ", kBlack);
  EXPECT_EQ(CountColor(space, kBlack), 0);
  // Bytes outside printable ASCII draw as '?'.
  Canvas unknown(kCellWidth, kCellHeight, kWhite);
  Canvas question(kCellWidth, kCellHeight, kWhite);
  unknown.DrawText(0, 0, "\x01", kBlack);
  question.DrawText(0, 0, "?", kBlack);
  EXPECT_EQ(unknown.ToImage().pixels, question.ToImage().pixels);
}

TEST(CanvasTest, RingAndImage) {
  Canvas canvas(21, 21, kWhite);
  canvas.DrawRing(10, 10, 6, kRed, 2);
  EXPECT_EQ(canvas.At(10, 10), kWhite);  // Hollow.
  EXPECT_EQ(canvas.At(16, 10), kRed);
  EXPECT_EQ(canvas.At(10, 4), kRed);
  const Image image = canvas.ToImage();
  EXPECT_EQ(image.width, 21);
  EXPECT_EQ(image.height, 21);
  EXPECT_EQ(image.channels, 3);
  EXPECT_EQ(image.pixels.size(), 21u * 21u * 3u);
}

Chart TwoPanelChart() {
  Chart chart;
  chart.width = 640;
  chart.height = 400;
  chart.title = "run";
  chart.x_label = "kimg";
  Panel a;
  a.title = "fid";
  a.series.push_back({"fid", kPurple, {0, 10, 20, 30}, {80, 50, 40, 45}});
  a.markers.push_back({20, 40, kRed, "40"});
  Panel b;
  b.title = "signs";
  b.y_min = -1;
  b.y_max = 1;
  b.series.push_back({"fake", kOrange, {0, 10, 20, 30}, {-0.5, 0.2, 3, -2}});
  chart.panels = {a, b};
  return chart;
}

TEST(RenderChartTest, ImageOfTheRequestedSizeWithTheCurves) {
  const Chart chart = TwoPanelChart();
  const absl::StatusOr<Image> image = RenderChart(chart);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 640);
  EXPECT_EQ(image->height, 400);
  EXPECT_EQ(image->channels, 3);
  EXPECT_GT(CountColor(*image, kPurple), 100);
  EXPECT_GT(CountColor(*image, kOrange), 100);
  EXPECT_GT(CountColor(*image, kRed), 10);

  Chart other = chart;
  other.width = 300;
  other.height = 500;
  const absl::StatusOr<Image> small = RenderChart(other);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->width, 300);
  EXPECT_EQ(small->height, 500);
}

TEST(RenderChartTest, NonFiniteValuesLeaveAGap) {
  Chart chart;
  chart.width = 400;
  chart.height = 200;
  Panel p;
  // x from 0 to 100: the gap between x = 40 and x = 60 stays empty.
  p.series.push_back(
      {"s", kBlue, {0, 20, 40, 50, 60, 80, 100}, {1, 2, 1, kNaN, 2, 1, 2}});
  chart.panels = {p};
  const absl::StatusOr<Image> image = RenderChart(chart);
  ASSERT_TRUE(image.ok()) << image.status();
  // The plot spans the width minus the margins; find the frame's columns
  // from the line's own extent.
  int first = image->width, last = -1;
  for (int x = 0; x < image->width; ++x) {
    if (HasColorInColumns(*image, kBlue, x, x + 1)) {
      first = std::min(first, x);
      last = std::max(last, x);
    }
  }
  ASSERT_LT(first, last);
  const double unit = (last - first) / 100.0;
  EXPECT_TRUE(
      HasColorInColumns(*image, kBlue, first + unit * 30, first + unit * 35));
  EXPECT_FALSE(
      HasColorInColumns(*image, kBlue, first + unit * 43, first + unit * 57));
  EXPECT_TRUE(
      HasColorInColumns(*image, kBlue, first + unit * 65, first + unit * 70));
}

TEST(RenderChartTest, PanelWithoutDataStillRenders) {
  Chart chart;
  chart.width = 300;
  chart.height = 150;
  Panel p;
  p.title = "empty";
  p.series.push_back({"s", kBlue, {0, 1}, {kNaN, kNaN}});
  chart.panels = {p};
  const absl::StatusOr<Image> image = RenderChart(chart);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(CountColor(*image, kBlue), 16 * 3);  // Only the legend swatch.
}

TEST(RenderChartTest, LongTextStaysInsideNarrowCharts) {
  Chart chart;
  chart.width = 260;
  chart.height = 200;
  chart.title = std::string(80, 'T');
  Panel p;
  p.title = std::string(60, 'P');
  p.subtitle = "a subtitle that cannot fit";
  p.series.push_back({"first series", kBlue, {0, 1}, {0, 1}});
  p.series.push_back({"second series", kGreen, {0, 1}, {1, 0}});
  chart.panels = {p};
  const absl::StatusOr<Image> image = RenderChart(chart);
  ASSERT_TRUE(image.ok()) << image.status();
  // Nothing is drawn in the right margin: text was cut, the legend moved
  // into the frame.
  for (int y = 0; y < image->height; ++y) {
    for (int x = 250; x < 260; ++x) {
      const size_t i = (static_cast<size_t>(y) * image->width + x) * 3;
      ASSERT_EQ(image->pixels[i] + image->pixels[i + 1] + image->pixels[i + 2],
                3 * 255)
          << x << "," << y;
    }
  }
}

TEST(RenderChartTest, RejectsSizesThatCannotHoldThePanels) {
  Chart chart = TwoPanelChart();
  chart.height = 100;
  absl::StatusOr<Image> image = RenderChart(chart);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(image.status().message(), HasSubstr("2 panel(s) need"));
  chart.height = 400;
  chart.width = 50;
  EXPECT_FALSE(RenderChart(chart).ok());
  chart.width = 640;
  chart.panels.clear();
  EXPECT_FALSE(RenderChart(chart).ok());
}

}  // namespace
}  // namespace pgan::plot
