#include "tools/plot_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/image_io.h"
#include "tests/common/test_dir.h"

namespace pgan::tools {
namespace {

namespace fs = std::filesystem;
using ::pgan::testing::TestDir;
using ::testing::HasSubstr;

// A stats.jsonl line as the trainer writes it.
std::string TickLine(int tick, double kimg, double loss_g, double loss_d,
                     double fake, double real) {
  config::TickReport r;
  r.tick = tick;
  r.kimg = kimg;
  r.iterations = tick * 10;
  r.loss_g = loss_g;
  r.loss_d = loss_d;
  r.score_fake = -0.1;
  r.sign_fake = fake;
  r.score_real = 0.2;
  r.sign_real = real;
  r.sec_per_kimg = 12.5;
  r.total_sec = kimg * 12.5;
  r.timestamp = 1764300000 + tick;
  r.cpumem_gb = 1.5;
  return r.ToJson().dump() + "\n";
}

std::string MetricLine(const std::string& metric, double kimg, double value) {
  return absl::StrFormat(
      "{\"results\": {\"%s\": %g}, \"metric\": \"%s\", \"total_time\": 41.2, "
      "\"total_time_str\": \"41s\", \"num_gpus\": 1, \"kimg\": %g, "
      "\"total_sec\": %g, \"snapshot_pkl\": "
      "\"network-snapshot-%06d.safetensors\", \"timestamp\": 1764300000.0}\n",
      metric, value, metric, kimg, kimg * 20, static_cast<int>(kimg));
}

void Write(const TestDir& dir, const std::string& name,
           const std::string& text) {
  ASSERT_TRUE(WriteFileAtomically(dir.file(name), text).ok()) << name;
}

// Ticks 0-3, a resume from tick 1 (ticks 2 and 3 again, with other
// values), then tick 4; FID at 0, 4, 8 kimg (8 twice) and an FD metric.
void WriteRun(const TestDir& dir) {
  std::string stats;
  stats += TickLine(0, 0.0, 2.0, 1.0, -0.2, 0.3);
  stats += TickLine(1, 4.0, 1.5, 0.9, -0.4, 0.5);
  stats += TickLine(2, 8.0, 1.4, 0.8, -0.5, 0.6);
  stats += TickLine(3, 12.0, 1.3, 0.7, -0.6, 0.7);
  stats += TickLine(2, 8.0, 1.1, 0.6, -0.55, 0.65);
  stats += "\n";  // A blank line is no record.
  stats += TickLine(3, 12.0, 1.0, 0.5, -0.65, 0.75);
  stats += TickLine(4, 16.0, 0.9, 0.4, -0.7, 0.8);
  Write(dir, "stats.jsonl", stats);
  Write(dir, "metric-fid50k_full.jsonl",
        MetricLine("fid50k_full", 0, 310.5) +
            MetricLine("fid50k_full", 4, 120.25) +
            MetricLine("fid50k_full", 8, 95.0) +
            MetricLine("fid50k_full", 8, 90.5));
  Write(dir, "metric-fd2k_full_efficientnet_lite0.jsonl",
        MetricLine("fd2k_full_efficientnet_lite0", 4, 8.5) +
            MetricLine("fd2k_full_efficientnet_lite0", 12, 6.25) +
            MetricLine("fd2k_full_efficientnet_lite0", 16, 7.0));
  Write(dir, "log.txt", "not a metric\n");
}

TEST(ReadRunCurvesTest, KeepsTheLastRecordPerTickAndKimg) {
  TestDir dir;
  WriteRun(dir);
  const absl::StatusOr<RunCurves> curves =
      ReadRunCurves(dir.path().string() + "/");
  ASSERT_TRUE(curves.ok()) << curves.status();
  EXPECT_EQ(curves->name, dir.path().filename().string());

  ASSERT_EQ(curves->ticks.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(curves->ticks[i].tick, i);
    EXPECT_EQ(curves->ticks[i].kimg, 4.0 * i);
  }
  EXPECT_EQ(curves->ticks[1].loss_g, 1.5);  // Before the resume point.
  EXPECT_EQ(curves->ticks[2].loss_g, 1.1);  // Replaced after the resume.
  EXPECT_EQ(curves->ticks[2].loss_d, 0.6);
  EXPECT_EQ(curves->ticks[3].sign_fake, -0.65);
  EXPECT_EQ(curves->ticks[3].sign_real, 0.75);
  EXPECT_EQ(curves->ticks[4].sec_per_kimg, 12.5);
  EXPECT_EQ(curves->ticks[4].total_sec, 200);
  EXPECT_EQ(curves->ticks[4].timestamp, 1764300004);

  ASSERT_EQ(curves->metrics.size(), 2u);  // Sorted by name.
  const MetricCurve& fd = curves->metrics[0];
  const MetricCurve& fid = curves->metrics[1];
  EXPECT_EQ(fd.name, "fd2k_full_efficientnet_lite0");
  ASSERT_EQ(fd.points.size(), 3u);
  EXPECT_EQ(fd.points[1].kimg, 12);
  EXPECT_EQ(fd.points[1].value, 6.25);
  EXPECT_EQ(fid.name, "fid50k_full");
  ASSERT_EQ(fid.points.size(), 3u);
  EXPECT_EQ(fid.points[0].value, 310.5);
  EXPECT_EQ(fid.points[2].kimg, 8);
  EXPECT_EQ(fid.points[2].value, 90.5);  // The later evaluation wins.
  EXPECT_EQ(fid.points[2].total_sec, 160);
  EXPECT_EQ(fid.points[2].snapshot, "network-snapshot-000008.safetensors");
}

TEST(ReadRunCurvesTest, NonFiniteValuesReadAsNaN) {
  TestDir dir;
  // nlohmann::json writes NaN as null; Python's json writes NaN.
  Write(dir, "stats.jsonl",
        "{\"tick\": 0, \"kimg\": 0, \"loss_g\": null, \"loss_d\": 1, "
        "\"sign_fake\": 0, \"sign_real\": 0}\n");
  Write(dir, "metric-fid50k_full.jsonl",
        "{\"results\": {\"fid50k_full\": NaN}, \"metric\": \"fid50k_full\", "
        "\"snapshot_pkl\": \"network-snapshot-000040.pkl\", \"note\": "
        "\"NaN in a string stays\"}\n"
        "{\"results\": {\"fid50k_full\": -Infinity}, \"kimg\": 80}\n");
  const absl::StatusOr<RunCurves> curves = ReadRunCurves(dir.path().string());
  ASSERT_TRUE(curves.ok()) << curves.status();
  ASSERT_EQ(curves->ticks.size(), 1u);
  EXPECT_TRUE(std::isnan(curves->ticks[0].loss_g));
  EXPECT_EQ(curves->ticks[0].loss_d, 1);
  EXPECT_EQ(curves->ticks[0].total_sec, 0);  // Absent: zero.
  ASSERT_EQ(curves->metrics.size(), 1u);
  ASSERT_EQ(curves->metrics[0].points.size(), 2u);
  // The reference's records have no kimg: it comes from the snapshot name.
  EXPECT_EQ(curves->metrics[0].points[0].kimg, 40);
  EXPECT_TRUE(std::isnan(curves->metrics[0].points[0].value));
  EXPECT_EQ(curves->metrics[0].points[1].kimg, 80);
  EXPECT_TRUE(std::isnan(curves->metrics[0].points[1].value));
}

TEST(ReadRunCurvesTest, MetricsAloneAreEnough) {
  TestDir dir;
  Write(dir, "metric-fid50k_full.jsonl", MetricLine("fid50k_full", 4, 50));
  const absl::StatusOr<RunCurves> curves = ReadRunCurves(dir.path().string());
  ASSERT_TRUE(curves.ok()) << curves.status();
  EXPECT_TRUE(curves->ticks.empty());
  EXPECT_EQ(curves->metrics.size(), 1u);
}

TEST(ReadRunCurvesTest, AnUnterminatedLastLineIsARecordBeingWritten) {
  TestDir dir;
  Write(dir, "stats.jsonl",
        TickLine(0, 0, 1, 1, 0, 0) + "{\"tick\": 1, \"kimg\": 4.0, \"lo");
  const absl::StatusOr<RunCurves> curves = ReadRunCurves(dir.path().string());
  ASSERT_TRUE(curves.ok()) << curves.status();
  EXPECT_EQ(curves->ticks.size(), 1u);
}

absl::Status ReadError(const std::string& file, const std::string& text) {
  TestDir dir;
  WriteRun(dir);
  Write(dir, file, text);
  return ReadRunCurves(dir.path().string()).status();
}

TEST(ReadRunCurvesTest, ErrorsNameTheFileAndLine) {
  const std::string good = TickLine(0, 0, 1, 1, 0, 0);
  absl::Status s =
      ReadError("stats.jsonl", good + good + "{\"tick\": 2, garbled\n" + good);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("stats.jsonl:3: not a JSON record"));

  s = ReadError("stats.jsonl", good +
                                   "{\"tick\": 1, \"kimg\": 4, \"loss_g\": 1, "
                                   "\"sign_fake\": 0, \"sign_real\": 0}\n");
  EXPECT_THAT(s.message(), HasSubstr("stats.jsonl:2: no \"loss_d\""));

  s = ReadError("stats.jsonl", "\n\n" + good + "[1, 2]\n");
  EXPECT_THAT(s.message(), HasSubstr("stats.jsonl:4: expected a JSON object"));

  s = ReadError("stats.jsonl",
                "{\"tick\": 0, \"kimg\": \"four\", \"loss_g\": 1, "
                "\"loss_d\": 1, \"sign_fake\": 0, \"sign_real\": 0}\n");
  EXPECT_THAT(s.message(),
              HasSubstr("stats.jsonl:1: field \"kimg\" must be a number"));

  s = ReadError("stats.jsonl", "{\"kimg\": 0}\n");
  EXPECT_THAT(s.message(), HasSubstr("stats.jsonl:1: no \"tick\""));

  s = ReadError("metric-fid50k_full.jsonl",
                MetricLine("fid50k_full", 4, 50) +
                    "{\"results\": {\"fid50k_full\": 40}, "
                    "\"metric\": \"fid50k_full\"}\n");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("metric-fid50k_full.jsonl:2: no \"kimg\""));

  s = ReadError("metric-fid50k_full.jsonl",
                "{\"results\": {\"kid\": 4}, \"metric\": \"fid50k_full\", "
                "\"kimg\": 4}\n");
  EXPECT_THAT(s.message(), HasSubstr("metric-fid50k_full.jsonl:1: results: "
                                     "no \"fid50k_full\""));

  s = ReadError("metric-fid50k_full.jsonl", "{\"kimg\": 4}\n");
  EXPECT_THAT(s.message(),
              HasSubstr("metric-fid50k_full.jsonl:1: no \"results\" object"));
}

TEST(ReadRunCurvesTest, EmptyOrMissingRunIsAnError) {
  TestDir dir;
  absl::Status s = ReadRunCurves(dir.path().string()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("nothing to plot"));

  Write(dir, "stats.jsonl", "\n");
  Write(dir, "metric-fid50k_full.jsonl", "");
  s = ReadRunCurves(dir.path().string()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);

  s = ReadRunCurves(dir.file("no-such-run")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("no-such-run"));
}

int CountColor(const Image& image, plot::Color c) {
  int count = 0;
  for (size_t i = 0; i + 2 < image.pixels.size(); i += 3) {
    count += image.pixels[i] == c.r && image.pixels[i + 1] == c.g &&
             image.pixels[i + 2] == c.b;
  }
  return count;
}

TEST(RunPlotTest, WritesTheCurvesPng) {
  TestDir dir;
  WriteRun(dir);
  PlotOptions options;
  options.run_dir = dir.path().string();
  std::ostringstream out;
  const absl::Status status = RunPlot(options, out);
  ASSERT_TRUE(status.ok()) << status;
  const std::string path = dir.file("curves.png");
  EXPECT_THAT(out.str(), HasSubstr(path));
  EXPECT_THAT(out.str(), HasSubstr("5 tick(s) to 16 kimg"));
  EXPECT_THAT(out.str(), HasSubstr("fid50k_full (3)"));

  const absl::StatusOr<Image> image = ReadImage(path);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 1200);
  EXPECT_EQ(image->height, 800);
  EXPECT_EQ(image->channels, 3);
  // The curves are drawn in their own colours without anti-aliasing, so
  // their exact colours are in the picture (far more than in legends).
  EXPECT_GT(CountColor(*image, kMetricColor), 500);
  EXPECT_GT(CountColor(*image, kLossGColor), 500);
  EXPECT_GT(CountColor(*image, kLossDColor), 500);
  EXPECT_GT(CountColor(*image, kSignsFakeColor), 500);
  EXPECT_GT(CountColor(*image, kSignsRealColor), 500);
  // No temporary files left beside it.
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    files += entry.path().filename().string()[0] == '.';
  }
  EXPECT_EQ(files, 0);
}

TEST(RunPlotTest, OutputPathAndSize) {
  TestDir dir;
  WriteRun(dir);
  PlotOptions options;
  options.run_dir = dir.path().string();
  options.out = dir.file("small.png");
  options.width = 640;
  options.height = 480;
  std::ostringstream out;
  ASSERT_TRUE(RunPlot(options, out).ok());
  EXPECT_FALSE(fs::exists(dir.file("curves.png")));
  const absl::StatusOr<Image> image = ReadImage(options.out);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 640);
  EXPECT_EQ(image->height, 480);

  options.height = 120;  // Four panels cannot fit.
  const absl::Status s = RunPlot(options, out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--width/--height: height 120"));
}

TEST(RenderRunCurvesPngTest, CurvesFromElsewhere) {
  // A RunCurves filled in memory, as from a coordinator: ticks only.
  RunCurves curves;
  curves.name = "job-1";
  for (int i = 0; i < 10; ++i) {
    config::TickReport t;
    t.tick = i;
    t.kimg = i * 2.0;
    t.loss_g = 1.0 / (i + 1);
    t.loss_d = i == 5 ? std::nan("") : 0.5;
    t.sign_fake = -0.1 * i;
    t.sign_real = 0.1 * i;
    curves.ticks.push_back(t);
  }
  const plot::Chart chart = RunCurvesChart(curves, 800, 600);
  EXPECT_EQ(chart.panels.size(), 2u);
  const absl::StatusOr<std::string> png = RenderRunCurvesPng(curves, 800, 600);
  ASSERT_TRUE(png.ok()) << png.status();
  const absl::StatusOr<Image> image = DecodeImage(*png, "png");
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 800);
  EXPECT_EQ(image->height, 600);
  EXPECT_GT(CountColor(*image, kLossDColor), 100);
  EXPECT_EQ(CountColor(*image, kMetricColor), 0);

  EXPECT_EQ(RenderRunCurvesPng(RunCurves{}, 800, 600).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(RunCurvesChartTest, MarksTheBestMetricPoint) {
  MetricCurve fid;
  fid.name = "fid50k_full";
  for (const auto& [kimg, value] : std::vector<std::pair<double, double>>{
           {0, 300}, {4, 55.5}, {8, std::nan("")}, {12, 60}}) {
    MetricPoint p;
    p.kimg = kimg;
    p.value = value;
    fid.points.push_back(p);
  }
  RunCurves curves;
  curves.metrics.push_back(fid);
  const plot::Chart chart = RunCurvesChart(curves, 800, 300);
  ASSERT_EQ(chart.panels.size(), 1u);
  const plot::Panel& panel = chart.panels[0];
  EXPECT_EQ(panel.title, "fid50k_full");
  EXPECT_EQ(panel.subtitle, "best 55.5 at 4 kimg");
  ASSERT_EQ(panel.markers.size(), 1u);
  EXPECT_EQ(panel.markers[0].x, 4);
  EXPECT_EQ(panel.markers[0].y, 55.5);
  EXPECT_EQ(panel.markers[0].label, "55.5");
}

// The reference's pr50k3_full records hold two results: one curve each, and
// their best is the highest.
TEST(ReadRunCurvesTest, PrecisionAndRecallAreTwoCurvesBestHigh) {
  TestDir dir;
  const auto line = [](double kimg, double precision, double recall) {
    return absl::StrFormat(
        "{\"results\": {\"pr50k3_full_precision\": %g, "
        "\"pr50k3_full_recall\": %g}, \"metric\": \"pr50k3_full\", "
        "\"kimg\": %g}\n",
        precision, recall, kimg);
  };
  Write(dir, "metric-pr50k3_full.jsonl",
        line(0, 0.1, 0.05) + line(4, 0.6, 0.3) + line(8, 0.5, 0.4));
  auto curves = ReadRunCurves(dir.path().string());
  ASSERT_TRUE(curves.ok()) << curves.status();
  ASSERT_EQ(curves->metrics.size(), 2u);
  EXPECT_EQ(curves->metrics[0].name, "pr50k3_full_precision");
  EXPECT_EQ(curves->metrics[1].name, "pr50k3_full_recall");
  ASSERT_EQ(curves->metrics[1].points.size(), 3u);
  EXPECT_EQ(curves->metrics[1].points[2].value, 0.4);
  const plot::Chart chart = RunCurvesChart(*curves, 800, 300);
  ASSERT_EQ(chart.panels.size(), 2u);
  EXPECT_EQ(chart.panels[0].subtitle, "best 0.6 at 4 kimg");
  EXPECT_EQ(chart.panels[1].subtitle, "best 0.4 at 8 kimg");
}

}  // namespace
}  // namespace pgan::tools
