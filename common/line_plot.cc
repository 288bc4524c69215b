#include "common/line_plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace pgan::plot {
namespace {

// The font, one printable ASCII character per line: the character, then its
// eight rows top to bottom, '#' for a lit pixel. Rows 0-6 stand on the
// baseline; row 7 holds the descenders of g, j, p, q, y, the comma and the
// underscore (without it g reads as 9).
constexpr char kFontArt[] = R"font(
  ..... ..... ..... ..... ..... ..... ..... .....
! ..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#.. .....
" .#.#. .#.#. .#.#. ..... ..... ..... ..... .....
# .#.#. .#.#. ##### .#.#. ##### .#.#. .#.#. .....
$ ..#.. .#### #.#.. .###. ..#.# ####. ..#.. .....
% ##... ##..# ...#. ..#.. .#... #..## ...## .....
& .##.. #..#. #.#.. .#... #.#.# #..#. .##.# .....
' ..#.. ..#.. .#... ..... ..... ..... ..... .....
( ...#. ..#.. .#... .#... .#... ..#.. ...#. .....
) .#... ..#.. ...#. ...#. ...#. ..#.. .#... .....
* ..... ..#.. #.#.# .###. #.#.# ..#.. ..... .....
+ ..... ..#.. ..#.. ##### ..#.. ..#.. ..... .....
, ..... ..... ..... ..... ..... .##.. ..#.. .#...
- ..... ..... ..... ##### ..... ..... ..... .....
. ..... ..... ..... ..... ..... .##.. .##.. .....
/ ..... ....# ...#. ..#.. .#... #.... ..... .....
0 .###. #...# #..## #.#.# ##..# #...# .###. .....
1 ..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###. .....
2 .###. #...# ....# ...#. ..#.. .#... ##### .....
3 ##### ...#. ..#.. ...#. ....# #...# .###. .....
4 ...#. ..##. .#.#. #..#. ##### ...#. ...#. .....
5 ##### #.... ####. ....# ....# #...# .###. .....
6 ..##. .#... #.... ####. #...# #...# .###. .....
7 ##### ....# ...#. ..#.. .#... .#... .#... .....
8 .###. #...# #...# .###. #...# #...# .###. .....
9 .###. #...# #...# .#### ....# ...#. .##.. .....
: ..... .##.. .##.. ..... .##.. .##.. ..... .....
; ..... .##.. .##.. ..... ..... .##.. ..#.. .#...
< ...#. ..#.. .#... #.... .#... ..#.. ...#. .....
= ..... ..... ##### ..... ##### ..... ..... .....
> .#... ..#.. ...#. ....# ...#. ..#.. .#... .....
? .###. #...# ....# ...#. ..#.. ..... ..#.. .....
@ .###. #...# ....# .##.# #.#.# #.#.# .###. .....
A .###. #...# #...# ##### #...# #...# #...# .....
B ####. #...# #...# ####. #...# #...# ####. .....
C .###. #...# #.... #.... #.... #...# .###. .....
D ###.. #..#. #...# #...# #...# #..#. ###.. .....
E ##### #.... #.... ####. #.... #.... ##### .....
F ##### #.... #.... ####. #.... #.... #.... .....
G .###. #...# #.... #.### #...# #...# .#### .....
H #...# #...# #...# ##### #...# #...# #...# .....
I .###. ..#.. ..#.. ..#.. ..#.. ..#.. .###. .....
J ..### ...#. ...#. ...#. ...#. #..#. .##.. .....
K #...# #..#. #.#.. ##... #.#.. #..#. #...# .....
L #.... #.... #.... #.... #.... #.... ##### .....
M #...# ##.## #.#.# #.#.# #...# #...# #...# .....
N #...# #...# ##..# #.#.# #..## #...# #...# .....
O .###. #...# #...# #...# #...# #...# .###. .....
P ####. #...# #...# ####. #.... #.... #.... .....
Q .###. #...# #...# #...# #.#.# #..#. .##.# .....
R ####. #...# #...# ####. #.#.. #..#. #...# .....
S .#### #.... #.... .###. ....# ....# ####. .....
T ##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. .....
U #...# #...# #...# #...# #...# #...# .###. .....
V #...# #...# #...# #...# #...# .#.#. ..#.. .....
W #...# #...# #...# #.#.# #.#.# #.#.# .#.#. .....
X #...# #...# .#.#. ..#.. .#.#. #...# #...# .....
Y #...# #...# .#.#. ..#.. ..#.. ..#.. ..#.. .....
Z ##### ....# ...#. ..#.. .#... #.... ##### .....
[ .###. .#... .#... .#... .#... .#... .###. .....
\ ..... #.... .#... ..#.. ...#. ....# ..... .....
] .###. ...#. ...#. ...#. ...#. ...#. .###. .....
^ ..#.. .#.#. #...# ..... ..... ..... ..... .....
_ ..... ..... ..... ..... ..... ..... ..... #####
` .#... ..#.. ...#. ..... ..... ..... ..... .....
a ..... ..... .###. ....# .#### #...# .#### .....
b #.... #.... #.##. ##..# #...# #...# ####. .....
c ..... ..... .###. #.... #.... #...# .###. .....
d ....# ....# .##.# #..## #...# #...# .#### .....
e ..... ..... .###. #...# ##### #.... .###. .....
f ..##. .#..# .#... ###.. .#... .#... .#... .....
g ..... ..... .#### #...# #...# .#### ....# .###.
h #.... #.... #.##. ##..# #...# #...# #...# .....
i ..#.. ..... .##.. ..#.. ..#.. ..#.. .###. .....
j ...#. ..... ..##. ...#. ...#. ...#. #..#. .##..
k #.... #.... #..#. #.#.. ##... #.#.. #..#. .....
l .##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###. .....
m ..... ..... ##.#. #.#.# #.#.# #...# #...# .....
n ..... ..... #.##. ##..# #...# #...# #...# .....
o ..... ..... .###. #...# #...# #...# .###. .....
p ..... ..... ####. #...# #...# ####. #.... #....
q ..... ..... .#### #...# #...# .#### ....# ....#
r ..... ..... #.##. ##..# #.... #.... #.... .....
s ..... ..... .###. #.... .###. ....# ####. .....
t .#... .#... ###.. .#... .#... .#..# ..##. .....
u ..... ..... #...# #...# #...# #..## .##.# .....
v ..... ..... #...# #...# #...# .#.#. ..#.. .....
w ..... ..... #...# #...# #.#.# #.#.# .#.#. .....
x ..... ..... #...# .#.#. ..#.. .#.#. #...# .....
y ..... ..... #...# #...# #...# .#### ....# .###.
z ..... ..... ##### ...#. ..#.. .#... ##### .....
{ ...#. ..#.. ..#.. .#... ..#.. ..#.. ...#. .....
| ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#.. .....
} .#... ..#.. ..#.. ...#. ..#.. ..#.. .#... .....
~ ..... ..... .#... #.#.# ...#. ..... ..... .....
)font";

constexpr int kFirstGlyph = 32;
constexpr int kLastGlyph = 126;
// Rows as 5-bit masks, bit 4 the leftmost column.
using Glyph = std::array<uint8_t, kGlyphHeight>;

const std::array<Glyph, kLastGlyph - kFirstGlyph + 1>& Font() {
  static const auto* font = [] {
    auto* table = new std::array<Glyph, kLastGlyph - kFirstGlyph + 1>{};
    for (absl::string_view line :
         absl::StrSplit(absl::string_view(kFontArt), '\n')) {
      // "C " then seven groups of five characters separated by spaces.
      if (line.size() != 2 + kGlyphHeight * (kGlyphWidth + 1) - 1) continue;
      const int ch = static_cast<unsigned char>(line[0]);
      if (ch < kFirstGlyph || ch > kLastGlyph) continue;
      Glyph& glyph = (*table)[ch - kFirstGlyph];
      for (int row = 0; row < kGlyphHeight; ++row) {
        uint8_t bits = 0;
        for (int col = 0; col < kGlyphWidth; ++col) {
          bits = static_cast<uint8_t>(bits << 1);
          if (line[2 + row * (kGlyphWidth + 1) + col] == '#') bits |= 1;
        }
        glyph[row] = bits;
      }
    }
    return table;
  }();
  return *font;
}

const Glyph& GlyphFor(char c) {
  int code = static_cast<unsigned char>(c);
  if (code < kFirstGlyph || code > kLastGlyph) code = '?';
  return Font()[code - kFirstGlyph];
}

// Clips the segment to [x0, x1] x [y0, y1] (Liang-Barsky). False when
// nothing is left. Keeps Bresenham from walking across huge coordinates.
bool ClipSegment(double x0, double y0, double x1, double y1, double* ax,
                 double* ay, double* bx, double* by) {
  const double dx = *bx - *ax;
  const double dy = *by - *ay;
  double t0 = 0.0;
  double t1 = 1.0;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {*ax - x0, x1 - *ax, *ay - y0, y1 - *ay};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;
      continue;
    }
    const double t = q[i] / p[i];
    if (p[i] < 0) {
      t0 = std::max(t0, t);
    } else {
      t1 = std::min(t1, t);
    }
    if (t0 > t1) return false;
  }
  const double sx = *ax;
  const double sy = *ay;
  *ax = sx + t0 * dx;
  *ay = sy + t0 * dy;
  *bx = sx + t1 * dx;
  *by = sy + t1 * dy;
  return true;
}

}  // namespace

int TextWidth(absl::string_view text, int scale) {
  if (text.empty()) return 0;
  return (static_cast<int>(text.size()) * kCellWidth - 1) * scale;
}

Canvas::Canvas(int width, int height, Color background)
    : width_(std::max(0, width)),
      height_(std::max(0, height)),
      rgb_(static_cast<size_t>(width_) * height_ * 3) {
  ResetClip();
  for (size_t i = 0; i < rgb_.size(); i += 3) {
    rgb_[i] = background.r;
    rgb_[i + 1] = background.g;
    rgb_[i + 2] = background.b;
  }
}

Color Canvas::At(int x, int y) const {
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  return {rgb_[i], rgb_[i + 1], rgb_[i + 2]};
}

void Canvas::SetClip(int x0, int y0, int x1, int y1) {
  clip_x0_ = std::clamp(x0, 0, width_);
  clip_y0_ = std::clamp(y0, 0, height_);
  clip_x1_ = std::clamp(x1, clip_x0_, width_);
  clip_y1_ = std::clamp(y1, clip_y0_, height_);
}

void Canvas::ResetClip() { SetClip(0, 0, width_, height_); }

void Canvas::SetPixel(int x, int y, Color c) {
  if (x < clip_x0_ || x >= clip_x1_ || y < clip_y0_ || y >= clip_y1_) return;
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  rgb_[i] = c.r;
  rgb_[i + 1] = c.g;
  rgb_[i + 2] = c.b;
}

void Canvas::FillRect(int x0, int y0, int x1, int y1, Color c) {
  x0 = std::max(x0, clip_x0_);
  y0 = std::max(y0, clip_y0_);
  x1 = std::min(x1, clip_x1_);
  y1 = std::min(y1, clip_y1_);
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) SetPixel(x, y, c);
  }
}

void Canvas::DrawRect(int x0, int y0, int x1, int y1, Color c) {
  if (x1 <= x0 || y1 <= y0) return;
  FillRect(x0, y0, x1, y0 + 1, c);
  FillRect(x0, y1 - 1, x1, y1, c);
  FillRect(x0, y0, x0 + 1, y1, c);
  FillRect(x1 - 1, y0, x1, y1, c);
}

void Canvas::DrawLine(double x0, double y0, double x1, double y1, Color c,
                      int thickness) {
  thickness = std::max(1, thickness);
  if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) ||
      !std::isfinite(y1)) {
    return;
  }
  // The brush covers [-lo, hi] around each path pixel.
  const int lo = (thickness - 1) / 2;
  const int hi = thickness / 2;
  if (!ClipSegment(clip_x0_ - hi - 1.0, clip_y0_ - hi - 1.0, clip_x1_ + lo,
                   clip_y1_ + lo, &x0, &y0, &x1, &y1)) {
    return;
  }
  int x = static_cast<int>(std::lround(x0));
  int y = static_cast<int>(std::lround(y0));
  const int xe = static_cast<int>(std::lround(x1));
  const int ye = static_cast<int>(std::lround(y1));
  const int dx = std::abs(xe - x);
  const int dy = -std::abs(ye - y);
  const int sx = x < xe ? 1 : -1;
  const int sy = y < ye ? 1 : -1;
  int err = dx + dy;
  while (true) {
    FillRect(x - lo, y - lo, x + hi + 1, y + hi + 1, c);
    if (x == xe && y == ye) break;
    const int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y += sy;
    }
  }
}

void Canvas::DrawRing(double cx, double cy, double radius, Color c,
                      int thickness) {
  if (!std::isfinite(cx) || !std::isfinite(cy) || radius <= 0) return;
  const int x0 = static_cast<int>(std::floor(cx - radius));
  const int x1 = static_cast<int>(std::ceil(cx + radius));
  const int y0 = static_cast<int>(std::floor(cy - radius));
  const int y1 = static_cast<int>(std::ceil(cy + radius));
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) {
      const double d = std::hypot(x - cx, y - cy);
      if (d <= radius && d > radius - thickness) SetPixel(x, y, c);
    }
  }
}

void Canvas::DrawText(int x, int y, absl::string_view text, Color c,
                      int scale) {
  scale = std::max(1, scale);
  for (size_t i = 0; i < text.size(); ++i) {
    const Glyph& glyph = GlyphFor(text[i]);
    const int gx = x + static_cast<int>(i) * kCellWidth * scale;
    for (int row = 0; row < kGlyphHeight; ++row) {
      for (int col = 0; col < kGlyphWidth; ++col) {
        if (((glyph[row] >> (kGlyphWidth - 1 - col)) & 1) == 0) continue;
        FillRect(gx + col * scale, y + row * scale, gx + (col + 1) * scale,
                 y + (row + 1) * scale, c);
      }
    }
  }
}

Image Canvas::ToImage() const { return Image{width_, height_, 3, rgb_}; }

std::vector<double> NiceTicks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0.0, 1.0};
  target = std::max(1, target);
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    hi = lo + pad;
    lo -= pad;
  }
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double n = raw / magnitude;
  // Switch at the geometric midpoints between 1, 2, 5 and 10.
  const double nice = n < 1.42 ? 1 : n < 3.17 ? 2 : n < 7.08 ? 5 : 10;
  const double step = nice * magnitude;
  const double first = std::floor(lo / step + 1e-9);
  const double last = std::ceil(hi / step - 1e-9);
  if (!std::isfinite(step) || step <= 0 || !(last - first < 1000)) {
    return {lo, hi};
  }
  std::vector<double> ticks;
  for (double i = first; i <= last; i += 1) {
    // Multiplying (not accumulating) keeps 0.1 * 3 from drifting, and a
    // rounding residue near zero would print as "-0".
    const double v = i * step;
    ticks.push_back(std::abs(v) < step * 1e-9 ? 0.0 : v);
  }
  if (ticks.size() < 2) ticks.push_back(ticks.back() + step);
  return ticks;
}

std::string FormatTick(double value, double step) {
  char buffer[64];
  if (!std::isfinite(value) || !(step > 0) || std::abs(value) >= 1e7 ||
      step < 1e-6) {
    std::snprintf(buffer, sizeof(buffer), "%g", value);
    return buffer;
  }
  if (std::abs(value) < step * 1e-9) value = 0;
  const int decimals =
      std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

namespace {

constexpr Color kGridColor{228, 228, 228};
constexpr Color kFrameColor{120, 120, 120};
constexpr Color kTickTextColor{70, 70, 70};
constexpr Color kTitleColor{20, 20, 20};
constexpr Color kSubtitleColor{90, 90, 90};

constexpr int kMinWidth = 200;
constexpr int kMaxSide = 16384;

// Pixel sizes of the layout. Text and everything around it grow with the
// picture (scale 2 from 2400x1600) so that a large plot stays legible.
struct Style {
  explicit Style(int scale) : text(scale) {}
  int text;  // Scale of small text; titles are twice as large.
  int title() const { return 2 * text; }
  int pad() const { return 10 * text; }
  int chart_title_height() const { return kGlyphHeight * title() + 16 * text; }
  int x_label_height() const { return kGlyphHeight * text + 6 * text; }
  int header_height() const { return kGlyphHeight * title() + 6 * text; }
  int tick_length() const { return 4 * text; }
  int tick_label_height() const {
    return tick_length() + 3 * text + kGlyphHeight * text;
  }
  int gap() const { return 10 * text; }
  int min_plot_height() const { return 30 * text; }
  int line() const { return 2 * text; }
};

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void Add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
};

// Ticks of one axis and the data range they span.
struct Axis {
  std::vector<double> ticks;
  double lo = 0;
  double hi = 1;
  double step() const {
    return ticks.size() >= 2 ? ticks[1] - ticks[0] : hi - lo;
  }
};

// A nice axis over `data`, or over [fixed_lo, fixed_hi] where those are set.
Axis MakeAxis(Range data, double fixed_lo, double fixed_hi, int target) {
  if (data.empty()) data = Range{0.0, 1.0};
  const bool has_lo = std::isfinite(fixed_lo);
  const bool has_hi = std::isfinite(fixed_hi);
  double lo = has_lo ? fixed_lo : data.lo;
  double hi = has_hi ? fixed_hi : data.hi;
  if (!(hi > lo)) {
    // One value (or a fixed end beyond the data): centre a unit of range.
    const double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    if (!has_lo) lo -= pad;
    if (!has_hi || !(hi > lo)) hi = lo + 2 * pad;
  }
  Axis axis;
  const std::vector<double> ticks = NiceTicks(lo, hi, target);
  axis.lo = has_lo ? lo : ticks.front();
  axis.hi = has_hi ? hi : ticks.back();
  const double eps = (axis.hi - axis.lo) * 1e-9;
  for (double t : ticks) {
    if (t >= axis.lo - eps && t <= axis.hi + eps) axis.ticks.push_back(t);
  }
  return axis;
}

// Pixel coordinates of the plot area [left, right) x [top, bottom).
struct Frame {
  int left = 0;
  int top = 0;
  int right = 0;
  int bottom = 0;
  double X(const Axis& axis, double x) const {
    return left + (x - axis.lo) / (axis.hi - axis.lo) * (right - left - 1);
  }
  double Y(const Axis& axis, double y) const {
    return (bottom - 1) -
           (y - axis.lo) / (axis.hi - axis.lo) * (bottom - top - 1);
  }
};

void DrawSeries(const Series& s, const Frame& f, const Axis& xa, const Axis& ya,
                const Style& style, Canvas& canvas) {
  const size_t n = std::min(s.x.size(), s.y.size());
  auto finite = [&](size_t i) {
    return i < n && std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
  };
  for (size_t i = 0; i < n; ++i) {
    if (!finite(i)) continue;
    const double px = f.X(xa, s.x[i]);
    const double py = f.Y(ya, s.y[i]);
    if (i > 0 && finite(i - 1)) {
      canvas.DrawLine(f.X(xa, s.x[i - 1]), f.Y(ya, s.y[i - 1]), px, py, s.color,
                      style.line());
    } else if (!finite(i + 1)) {
      // An isolated point would otherwise not show at all.
      const int r = style.line();
      const int cx = static_cast<int>(std::lround(px));
      const int cy = static_cast<int>(std::lround(py));
      canvas.FillRect(cx - r + 1, cy - r + 1, cx + r, cy + r, s.color);
    }
  }
}

void DrawMarker(const Marker& m, const Frame& f, const Axis& xa, const Axis& ya,
                const Style& style, Canvas& canvas) {
  if (!std::isfinite(m.x) || !std::isfinite(m.y)) return;
  const double px = f.X(xa, m.x);
  const double py = f.Y(ya, m.y);
  // The ring may stick out of the frame (a best point at the last kimg).
  const int out = 8 * style.text;
  canvas.SetClip(f.left - out, f.top - out, f.right + out, f.bottom + out);
  canvas.DrawRing(px, py, 6 * style.text, m.color, 2 * style.text);
  if (m.label.empty()) return;
  const int w = TextWidth(m.label, style.text);
  const int h = kCapHeight * style.text;
  const int d = 9 * style.text;
  const int b = 2 * style.text;
  // Above and to the right of the point, flipped to stay inside the frame.
  int x = static_cast<int>(std::lround(px)) + d;
  int y = static_cast<int>(std::lround(py)) - d - h;
  if (x + w + b > f.right) x = static_cast<int>(std::lround(px)) - d - w;
  if (y - b < f.top) y = static_cast<int>(std::lround(py)) + d;
  canvas.FillRect(x - b, y - b, x + w + b, y + h + b, kWhite);
  canvas.DrawText(x, y, m.label, m.color, style.text);
}

// `text` cut to `width` pixels at `scale`, ending in ".." when cut.
std::string FitText(const std::string& text, int width, int scale) {
  if (TextWidth(text, scale) <= width) return text;
  const int cells = (width / scale + 1) / kCellWidth;  // TextWidth inverse.
  if (cells < 3) return "";
  return text.substr(0, cells - 2) + "..";
}

constexpr int kSwatch = 16;  // Legend line sample, times the text scale.

int LegendWidth(const Panel& panel, const Style& style) {
  const int s = style.text;
  int width = 0;
  for (const Series& series : panel.series) {
    if (series.name.empty()) continue;
    if (width > 0) width += 14 * s;
    width += (kSwatch + 4) * s + TextWidth(series.name, s);
  }
  return width;
}

// Legend entries right-aligned at `right`, small text top at `y`.
void DrawLegend(const Panel& panel, int right, int y, const Style& style,
                Canvas& canvas) {
  const int s = style.text;
  int x = right;
  for (auto it = panel.series.rbegin(); it != panel.series.rend(); ++it) {
    if (it->name.empty()) continue;
    x -= TextWidth(it->name, s);
    canvas.DrawText(x, y, it->name, kTitleColor, s);
    x -= (4 + kSwatch) * s;
    canvas.FillRect(x, y + 2 * s, x + kSwatch * s, y + 5 * s, it->color);
    x -= 14 * s;
  }
}

// Title, then subtitle and legend where they fit, on one baseline above the
// frame. A legend without room there goes into the frame's top-right
// corner on a white box (over the data: better than no legend).
void DrawHeader(const Panel& panel, const Frame& f, int top, const Style& style,
                Canvas& canvas) {
  const int s = style.text;
  const int small_y = top + kCapHeight * (style.title() - s);
  const std::string title =
      FitText(panel.title, f.right - f.left, style.title());
  canvas.DrawText(f.left, top, title, kTitleColor, style.title());
  int x = f.left + TextWidth(title, style.title()) + 12 * s;
  const int legend_w = LegendWidth(panel, style);
  const int gap = 14 * s;
  if (!panel.subtitle.empty() &&
      x + TextWidth(panel.subtitle, s) + (legend_w > 0 ? gap : 0) + legend_w <=
          f.right) {
    canvas.DrawText(x, small_y, panel.subtitle, kSubtitleColor, s);
    x += TextWidth(panel.subtitle, s) + gap;
  } else if (!panel.subtitle.empty() &&
             x + TextWidth(panel.subtitle, s) <= f.right) {
    // The subtitle (a best value) says more than a legend; the legend moves.
    canvas.DrawText(x, small_y, panel.subtitle, kSubtitleColor, s);
    x = f.right;
  }
  if (legend_w == 0) return;
  if (x + legend_w <= f.right) {
    DrawLegend(panel, f.right, small_y, style, canvas);
    return;
  }
  const int pad = 4 * s;
  const int box_right = f.right - 6 * s;
  const int box_top = f.top + 6 * s;
  canvas.FillRect(box_right - legend_w - 2 * pad, box_top, box_right,
                  box_top + kGlyphHeight * s + 2 * pad, kWhite);
  canvas.DrawRect(box_right - legend_w - 2 * pad, box_top, box_right,
                  box_top + kGlyphHeight * s + 2 * pad, kGridColor);
  DrawLegend(panel, box_right - pad, box_top + pad, style, canvas);
}

}  // namespace

absl::StatusOr<Image> RenderChart(const Chart& chart) {
  const int n = static_cast<int>(chart.panels.size());
  if (n == 0) return absl::InvalidArgumentError("a chart needs a panel");
  if (chart.width < kMinWidth || chart.width > kMaxSide) {
    return absl::InvalidArgumentError(
        absl::StrCat("width ", chart.width, ": must be from ", kMinWidth,
                     " to ", kMaxSide, " pixels"));
  }
  const Style style(
      std::max(1, std::min(chart.width / 1200, chart.height / 800)));
  const int s = style.text;
  const int title_h = chart.title.empty() ? 0 : style.chart_title_height();
  const int xlabel_h = chart.x_label.empty() ? 0 : style.x_label_height();
  const int min_panel_h = style.header_height() + style.min_plot_height() +
                          style.tick_label_height() + style.gap();
  const int min_height = 2 * style.pad() + title_h + xlabel_h + n * min_panel_h;
  if (chart.height < min_height || chart.height > kMaxSide) {
    return absl::InvalidArgumentError(
        absl::StrCat("height ", chart.height, ": ", n, " panel(s) need from ",
                     min_height, " to ", kMaxSide, " pixels"));
  }

  // The layout: equal panels, each a header (title and legend), the plot
  // area, its x tick labels and a gap.
  const int panels_top = style.pad() + title_h;
  const int panel_h = (chart.height - panels_top - style.pad() - xlabel_h) / n;
  const int plot_h =
      panel_h - style.header_height() - style.tick_label_height() - style.gap();

  Range x_data;
  for (const Panel& p : chart.panels) {
    for (const Series& series : p.series) {
      for (size_t i = 0; i < std::min(series.x.size(), series.y.size()); ++i) {
        if (std::isfinite(series.y[i])) x_data.Add(series.x[i]);
      }
    }
    for (const Marker& m : p.markers) x_data.Add(m.x);
  }
  std::vector<Axis> y_axes;
  int y_label_w = 0;
  const int y_target = std::clamp(plot_h / (35 * s), 2, 8);
  for (const Panel& p : chart.panels) {
    Range y_data;
    for (const Series& series : p.series) {
      for (size_t i = 0; i < std::min(series.x.size(), series.y.size()); ++i) {
        if (std::isfinite(series.x[i])) y_data.Add(series.y[i]);
      }
    }
    for (const Marker& m : p.markers) y_data.Add(m.y);
    y_axes.push_back(MakeAxis(y_data, p.y_min, p.y_max, y_target));
    for (double t : y_axes.back().ticks) {
      y_label_w = std::max(y_label_w,
                           TextWidth(FormatTick(t, y_axes.back().step()), s));
    }
  }
  const int left = style.pad() + y_label_w + style.tick_length() + 3 * s;
  // Room for half of the last x tick label, centred under the right edge.
  const int right = chart.width - style.pad() - 3 * kCellWidth * s;
  if (right - left < 60 * s) {
    return absl::InvalidArgumentError(absl::StrCat(
        "width ", chart.width, ": too narrow for the axis labels"));
  }
  const Axis x_axis = MakeAxis(x_data, std::nan(""), std::nan(""),
                               std::clamp((right - left) / (90 * s), 2, 12));

  Canvas canvas(chart.width, chart.height, kWhite);
  if (!chart.title.empty()) {
    canvas.DrawText(
        style.pad(), style.pad(),
        FitText(chart.title, chart.width - 2 * style.pad(), style.title()),
        kTitleColor, style.title());
  }
  for (int i = 0; i < n; ++i) {
    const Panel& panel = chart.panels[i];
    const Axis& y_axis = y_axes[i];
    const int panel_top = panels_top + i * panel_h;
    Frame f;
    f.left = left;
    f.right = right;
    f.top = panel_top + style.header_height();
    f.bottom = f.top + plot_h;

    // Grid and tick labels.
    for (double t : y_axis.ticks) {
      const int y = static_cast<int>(std::lround(f.Y(y_axis, t)));
      canvas.FillRect(f.left, y, f.right, y + s, kGridColor);
      canvas.FillRect(f.left - style.tick_length(), y, f.left, y + s,
                      kFrameColor);
      const std::string label = FormatTick(t, y_axis.step());
      canvas.DrawText(
          f.left - style.tick_length() - 3 * s - TextWidth(label, s), y - 3 * s,
          label, kTickTextColor, s);
    }
    for (double t : x_axis.ticks) {
      const int x = static_cast<int>(std::lround(f.X(x_axis, t)));
      canvas.FillRect(x, f.top, x + s, f.bottom, kGridColor);
      canvas.FillRect(x, f.bottom, x + s, f.bottom + style.tick_length(),
                      kFrameColor);
      const std::string label = FormatTick(t, x_axis.step());
      canvas.DrawText(x - TextWidth(label, s) / 2,
                      f.bottom + style.tick_length() + 3 * s, label,
                      kTickTextColor, s);
    }

    // Data, clipped to the inside of the frame.
    canvas.SetClip(f.left + 1, f.top + 1, f.right - 1, f.bottom - 1);
    bool any = false;
    for (const Series& series : panel.series) {
      for (size_t k = 0; k < std::min(series.x.size(), series.y.size()); ++k) {
        any = any || (std::isfinite(series.x[k]) && std::isfinite(series.y[k]));
      }
      DrawSeries(series, f, x_axis, y_axis, style, canvas);
    }
    canvas.ResetClip();
    canvas.DrawRect(f.left, f.top, f.right, f.bottom, kFrameColor);
    for (const Marker& m : panel.markers) {
      DrawMarker(m, f, x_axis, y_axis, style, canvas);
    }
    canvas.ResetClip();
    // After the data: a legend may have to go over it.
    DrawHeader(panel, f, panel_top, style, canvas);
    if (!any) {
      const std::string text = "no data";
      canvas.DrawText((f.left + f.right - TextWidth(text, s)) / 2,
                      (f.top + f.bottom - kCapHeight * s) / 2, text,
                      kSubtitleColor, s);
    }
  }
  if (!chart.x_label.empty()) {
    const int y = panels_top + n * panel_h - style.gap() + 4 * s;
    canvas.DrawText((left + right - TextWidth(chart.x_label, s)) / 2, y,
                    chart.x_label, kTitleColor, s);
  }
  return canvas.ToImage();
}

}  // namespace pgan::plot
