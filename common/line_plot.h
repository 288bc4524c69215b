// A small raster plotting library for training curves: an RGB Canvas with
// lines, rectangles, rings and text in a built-in 5x7 bitmap font, and a
// Chart (panels of line series stacked vertically over a shared x axis)
// rendered to an Image. Torch-free and dependency-free (no font files, no
// shared state) so that the CLI can draw a run's curves anywhere.
#ifndef PGAN_COMMON_LINE_PLOT_H_
#define PGAN_COMMON_LINE_PLOT_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/image_io.h"

namespace pgan::plot {

struct Color {
  uint8_t r = 0;
  uint8_t g = 0;
  uint8_t b = 0;
  bool operator==(const Color& o) const {
    return r == o.r && g == o.g && b == o.b;
  }
  bool operator!=(const Color& o) const { return !(*this == o); }
};

inline constexpr Color kWhite{255, 255, 255};
inline constexpr Color kBlack{0, 0, 0};
// Distinct line colours on white (the matplotlib "tab10" hues).
inline constexpr Color kBlue{31, 119, 180};
inline constexpr Color kOrange{255, 127, 14};
inline constexpr Color kGreen{44, 160, 44};
inline constexpr Color kRed{214, 39, 40};
inline constexpr Color kPurple{148, 103, 189};
inline constexpr Color kBrown{140, 86, 75};
inline constexpr Color kPink{227, 119, 194};
inline constexpr Color kOlive{188, 189, 34};
inline constexpr Color kCyan{23, 190, 207};

// The built-in font: 5x7 glyphs for printable ASCII above the baseline
// plus a descender row, in 6x9 cells (one column and one row of spacing);
// other bytes draw as '?'.
inline constexpr int kGlyphWidth = 5;
inline constexpr int kGlyphHeight = 8;  // Rows 0-6 and the descender row.
inline constexpr int kCapHeight = 7;    // Rows above the baseline.
inline constexpr int kCellWidth = 6;
inline constexpr int kCellHeight = 9;

// Pixel size of `text` drawn at `scale` (each font pixel a scale x scale
// square): no trailing spacing column, one line only.
int TextWidth(absl::string_view text, int scale = 1);
inline int TextHeight(int scale = 1) { return kGlyphHeight * scale; }

// An RGB raster. Every drawing call clips to the image and to the clip
// rectangle (the whole image unless SetClip narrowed it), so callers may
// pass coordinates anywhere.
class Canvas {
 public:
  Canvas(int width, int height, Color background = kWhite);

  int width() const { return width_; }
  int height() const { return height_; }
  Color At(int x, int y) const;  // (x, y) must lie inside the image.

  // Drawing is limited to [x0, x1) x [y0, y1) until ResetClip.
  void SetClip(int x0, int y0, int x1, int y1);
  void ResetClip();

  void SetPixel(int x, int y, Color c);
  // Fills [x0, x1) x [y0, y1).
  void FillRect(int x0, int y0, int x1, int y1, Color c);
  // One-pixel outline of [x0, x1) x [y0, y1).
  void DrawRect(int x0, int y0, int x1, int y1, Color c);
  // A straight line between pixel centres, `thickness` pixels wide (a
  // square brush along the Bresenham path: no anti-aliasing, so every
  // pixel drawn has exactly colour `c`).
  void DrawLine(double x0, double y0, double x1, double y1, Color c,
                int thickness = 1);
  // A ring of outer radius `radius` around (cx, cy).
  void DrawRing(double cx, double cy, double radius, Color c,
                int thickness = 2);
  // Text with its top-left corner at (x, y).
  void DrawText(int x, int y, absl::string_view text, Color c, int scale = 1);

  // 3-channel copy for EncodePng/WritePng.
  Image ToImage() const;

 private:
  int width_;
  int height_;
  int clip_x0_, clip_y0_, clip_x1_, clip_y1_;
  std::vector<uint8_t> rgb_;
};

// Tick values 1, 2 or 5 x 10^k apart that cover [lo, hi]: the first tick is
// <= lo and the last >= hi, with about `target` intervals (at least 2
// ticks). 0..97 with target 5 gives 0, 20, 40, 60, 80, 100. An empty or
// inverted range is widened around lo first. Non-finite input gives {0, 1}.
std::vector<double> NiceTicks(double lo, double hi, int target = 5);

// A tick label with as many decimals as the tick spacing `step` needs
// (step 0.05 -> "0.15"); huge or tiny values in %g form.
std::string FormatTick(double value, double step);

// A curve: points (x[i], y[i]) joined in order; a non-finite x or y ends
// the line there (a gap), and a point with gaps on both sides is a dot.
struct Series {
  std::string name;  // In the panel's legend; empty: not listed.
  Color color;
  std::vector<double> x;
  std::vector<double> y;  // Same length as x.
};

// A highlighted point: a ring with `label` beside it.
struct Marker {
  double x = 0;
  double y = 0;
  Color color;
  std::string label;
};

struct Panel {
  std::string title;
  std::string subtitle;  // Smaller text after the title.
  std::vector<Series> series;
  std::vector<Marker> markers;
  // Fixed y range; NaN takes that end from the data, rounded out to ticks.
  double y_min = std::numeric_limits<double>::quiet_NaN();
  double y_max = std::numeric_limits<double>::quiet_NaN();
};

// Panels stacked top to bottom, each with its own y axis, all over the same
// x range (the union of their data) so that they line up.
struct Chart {
  int width = 1200;
  int height = 800;
  std::string title;    // Above the first panel; may be empty.
  std::string x_label;  // Below the last panel; may be empty.
  std::vector<Panel> panels;
};

// Draws the chart. INVALID_ARGUMENT when there are no panels or the size
// cannot hold them (the message says the smallest height that would).
absl::StatusOr<Image> RenderChart(const Chart& chart);

}  // namespace pgan::plot

#endif  // PGAN_COMMON_LINE_PLOT_H_
