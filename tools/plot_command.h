// `pgan plot`: a PNG of a training run's curves (quality metrics, losses,
// D's signs against kimg) for people without Grafana. Reading and drawing
// are separate steps around the plain RunCurves struct, so that curves from
// elsewhere (a coordinator's job history) draw the same way. Torch-free; no
// shared state.
#ifndef PGAN_TOOLS_PLOT_COMMAND_H_
#define PGAN_TOOLS_PLOT_COMMAND_H_

#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/line_plot.h"
#include "config/tick_report.h"

namespace pgan::tools {

// One evaluation of a quality metric (a metric-<name>.jsonl record).
struct MetricPoint {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  double kimg = 0;
  double value = kNaN;  // results[metric]; lower is better (FID, FD).
  double total_sec = kNaN;
  double timestamp = kNaN;
  std::string snapshot;  // The network file evaluated; may be empty.
};

struct MetricCurve {
  std::string name;                 // e.g. "fid50k_full".
  std::vector<MetricPoint> points;  // Increasing kimg, one per kimg.
};

struct RunCurves {
  std::string name;  // The chart's title: a run directory's name, a job id.
  // stats.jsonl's records: increasing tick number, one per tick.
  std::vector<config::TickReport> ticks;
  std::vector<MetricCurve> metrics;  // By name.
};

// Reads RUN_DIR/stats.jsonl (if present) and every RUN_DIR/metric-*.jsonl.
// A resumed run repeats ticks (and evaluations) after its snapshot: the
// last record for a tick number (a metric's kimg) wins. Blank lines are
// skipped, and so is an unterminated last line that is not JSON yet (a
// record being written). Errors: RUN_DIR missing (NOT_FOUND); a line that is
// not JSON or lacks a needed field (INVALID_ARGUMENT naming file and line);
// no ticks and no metrics at all (FAILED_PRECONDITION).
//   stats.jsonl (config::TickReport) needs "tick", "kimg", "loss_g",
//   "loss_d", "sign_fake", "sign_real" (null reads as NaN); metric files need "results" holding the metric's value
//   (under "metric", else the file's <name>) and "kimg" (or a
//   "snapshot_pkl" named network-snapshot-<kimg>.*, as the reference's).
absl::StatusOr<RunCurves> ReadRunCurves(const std::string& run_dir);

// The colours of the curves (tests look for them in the picture).
inline constexpr plot::Color kMetricColor = plot::kPurple;
inline constexpr plot::Color kBestColor = plot::kRed;
inline constexpr plot::Color kLossGColor = plot::kBlue;
inline constexpr plot::Color kLossDColor = plot::kOrange;
inline constexpr plot::Color kSignsFakeColor = plot::kRed;
inline constexpr plot::Color kSignsRealColor = plot::kGreen;

// The chart of a run: a panel per metric (best point marked), then losses
// G and D, then D's signs on fakes and reals (from -1 to 1), all against
// kimg. The loss and sign panels are left out when there are no ticks.
plot::Chart RunCurvesChart(const RunCurves& curves, int width, int height);

// RunCurvesChart as PNG bytes. INVALID_ARGUMENT for a size that cannot hold
// the panels, FAILED_PRECONDITION for curves with nothing to draw.
absl::StatusOr<std::string> RenderRunCurvesPng(const RunCurves& curves,
                                               int width, int height);

struct PlotOptions {
  std::string run_dir;
  std::string out;  // Empty: RUN_DIR/curves.png.
  int width = 1200;
  int height = 800;
};

// Reads the run, draws it and writes the PNG atomically; reports the file
// and what it shows on `out`.
absl::Status RunPlot(const PlotOptions& options, std::ostream& out);

}  // namespace pgan::tools

#endif  // PGAN_TOOLS_PLOT_COMMAND_H_
