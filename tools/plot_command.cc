#include "tools/plot_command.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/image_io.h"
#include "common/status_macros.h"

namespace pgan::tools {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Python's json module (the reference's metric files) writes NaN, Infinity
// and -Infinity, which are not JSON; they become null, which reads as NaN.
std::string NullNonFiniteLiterals(absl::string_view line) {
  std::string out;
  out.reserve(line.size());
  bool in_string = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < line.size()) {
        out.push_back(line[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    const absl::string_view rest = line.substr(i);
    const bool word_start =
        i == 0 || !std::isalnum(static_cast<unsigned char>(line[i - 1]));
    if (word_start) {
      bool replaced = false;
      for (absl::string_view literal : {"-Infinity", "Infinity", "NaN"}) {
        if (absl::StartsWith(rest, literal)) {
          out += "null";
          i += literal.size() - 1;
          replaced = true;
          break;
        }
      }
      if (replaced) continue;
    }
    out.push_back(c);
  }
  return out;
}

// Calls `fn` with each record of a JSON-lines file and "FILE:LINE" for its
// errors.
absl::Status ForEachRecord(
    const std::string& path,
    const std::function<absl::Status(const json&, const std::string&)>& fn) {
  ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    const absl::string_view line =
        absl::StripAsciiWhitespace(lines[i]);  // Also a '\r' of CRLF files.
    if (line.empty()) continue;
    const std::string where = absl::StrCat(path, ":", i + 1);
    const json record =
        json::parse(NullNonFiniteLiterals(line), nullptr, false);
    if (record.is_discarded()) {
      // The trainer appends whole lines; a last line without its newline is
      // one being written while we read, not damage.
      if (i + 1 == lines.size()) break;
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": not a JSON record"));
    }
    if (!record.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": expected a JSON object, got ", record.type_name()));
    }
    RETURN_IF_ERROR(fn(record, where));
  }
  return absl::OkStatus();
}

// `record[key]` as a number: null reads as NaN (JSON has no NaN), a missing
// key is an error only when `required`.
absl::Status GetNumber(const json& record, const char* key, bool required,
                       const std::string& where, double* value) {
  const auto it = record.find(key);
  if (it == record.end()) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": no \"", key, "\""));
  }
  if (it->is_null()) {
    *value = kNaN;
    return absl::OkStatus();
  }
  if (!it->is_number()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": \"", key, "\" is not a number (", it->dump(), ")"));
  }
  *value = it->get<double>();
  return absl::OkStatus();
}

// What a tick must have to be drawn (the record's own names).
constexpr const char* kRequiredTickFields[] = {
    "tick", "kimg", "loss_g", "loss_d", "sign_fake", "sign_real"};

absl::Status ReadTicks(const std::string& path,
                       std::vector<config::TickReport>* ticks) {
  std::map<int64_t, config::TickReport> by_tick;
  RETURN_IF_ERROR(ForEachRecord(
      path, [&](const json& r, const std::string& where) -> absl::Status {
        for (const char* key : kRequiredTickFields) {
          if (!r.contains(key)) {
            return absl::InvalidArgumentError(
                absl::StrCat(where, ": no \"", key, "\""));
          }
        }
        ASSIGN_OR_RETURN(config::TickReport t,
                         config::TickReport::FromJson(r, where));
        if (t.tick < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": \"tick\" is not a tick number"));
        }
        by_tick[t.tick] = std::move(t);  // A resumed run's repeat replaces.
        return absl::OkStatus();
      }));
  for (auto& [tick, report] : by_tick) ticks->push_back(std::move(report));
  return absl::OkStatus();
}

// The kimg in a reference snapshot name, "network-snapshot-000040.pkl".
bool KimgFromSnapshotName(const std::string& snapshot, double* kimg) {
  const std::string base = fs::path(snapshot).stem().string();
  absl::string_view digits = base;
  if (!absl::ConsumePrefix(&digits, "network-snapshot-")) return false;
  int64_t value = 0;
  if (!absl::SimpleAtoi(digits, &value) || value < 0) return false;
  *kimg = static_cast<double>(value);
  return true;
}

// The curves of one metric-<name>.jsonl: one for the metric, or, where its
// records hold several results under the metric's name (the reference's
// pr50k3_full: pr50k3_full_precision and pr50k3_full_recall), one each.
absl::StatusOr<std::vector<MetricCurve>> ReadMetric(const std::string& path,
                                                    const std::string& name) {
  // Per result key, keyed by images (kimg * 1000) so that 40.0 and
  // 40.000001 are one.
  std::map<std::string, std::map<int64_t, MetricPoint>> by_key;
  RETURN_IF_ERROR(ForEachRecord(
      path, [&](const json& r, const std::string& where) -> absl::Status {
        MetricPoint p;
        std::string metric = name;
        if (const auto it = r.find("metric");
            it != r.end() && it->is_string()) {
          metric = it->get<std::string>();
        }
        const auto results = r.find("results");
        if (results == r.end() || !results->is_object()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": no \"results\" object"));
        }
        std::vector<std::string> keys;
        if (results->contains(metric)) {
          keys.push_back(metric);
        } else {
          for (const auto& [key, value] : results->items()) {
            if (absl::StartsWith(key, metric + "_")) keys.push_back(key);
          }
        }
        if (keys.empty()) keys.push_back(metric);  // Reported as missing.
        if (const auto it = r.find("snapshot_pkl");
            it != r.end() && it->is_string()) {
          p.snapshot = it->get<std::string>();
        }
        if (r.contains("kimg") || !KimgFromSnapshotName(p.snapshot, &p.kimg)) {
          p.kimg = kNaN;
          RETURN_IF_ERROR(GetNumber(r, "kimg", true, where, &p.kimg));
        }
        if (!std::isfinite(p.kimg)) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": \"kimg\" is not a finite number"));
        }
        RETURN_IF_ERROR(GetNumber(r, "total_sec", false, where, &p.total_sec));
        RETURN_IF_ERROR(GetNumber(r, "timestamp", false, where, &p.timestamp));
        for (const std::string& key : keys) {
          RETURN_IF_ERROR(GetNumber(*results, key.c_str(), true,
                                    absl::StrCat(where, ": results"),
                                    &p.value));
          by_key[key][std::llround(p.kimg * 1000)] = p;
        }
        return absl::OkStatus();
      }));
  std::vector<MetricCurve> curves;
  for (auto& [key, points] : by_key) {
    MetricCurve curve;
    curve.name = key;
    for (auto& [nimg, point] : points) curve.points.push_back(point);
    curves.push_back(std::move(curve));
  }
  return curves;
}

// "12.34" / "1234" / "0.001234": four significant digits without exponents
// for the values metrics take.
std::string FormatValue(double v) {
  if (std::abs(v) >= 1e4) return absl::StrFormat("%.0f", v);
  return absl::StrFormat("%.4g", v);
}

}  // namespace

absl::StatusOr<RunCurves> ReadRunCurves(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat(run_dir, ": not a run directory (no such directory)"));
  }
  RunCurves curves;
  curves.name = fs::path(run_dir).lexically_normal().filename().string();
  if (curves.name.empty() || curves.name == ".") {
    // "runs/00001-x/" normalises to a trailing empty name.
    curves.name =
        fs::path(run_dir).lexically_normal().parent_path().filename().string();
  }
  const std::string stats = (fs::path(run_dir) / "stats.jsonl").string();
  if (fs::exists(stats, ec)) RETURN_IF_ERROR(ReadTicks(stats, &curves.ticks));

  std::vector<std::pair<std::string, std::string>> metric_files;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    const std::string file = entry.path().filename().string();
    absl::string_view name = file;
    if (!absl::ConsumePrefix(&name, "metric-") ||
        !absl::ConsumeSuffix(&name, ".jsonl") || name.empty()) {
      continue;
    }
    if (!entry.is_regular_file(ec)) continue;
    metric_files.emplace_back(std::string(name), entry.path().string());
  }
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat(run_dir, ": cannot list: ", ec.message()));
  }
  std::sort(metric_files.begin(), metric_files.end());
  for (const auto& [name, path] : metric_files) {
    ASSIGN_OR_RETURN(std::vector<MetricCurve> read, ReadMetric(path, name));
    for (MetricCurve& curve : read) {
      if (!curve.points.empty()) curves.metrics.push_back(std::move(curve));
    }
  }
  if (curves.ticks.empty() && curves.metrics.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        run_dir,
        ": nothing to plot: no ticks in stats.jsonl and no metric-*.jsonl "
        "records (has the run finished its first tick?)"));
  }
  return curves;
}

plot::Chart RunCurvesChart(const RunCurves& curves, int width, int height) {
  plot::Chart chart;
  chart.width = width;
  chart.height = height;
  chart.title = curves.name;
  chart.x_label = "kimg";
  for (const MetricCurve& metric : curves.metrics) {
    plot::Panel panel;
    panel.title = metric.name;
    plot::Series series{metric.name, kMetricColor, {}, {}};
    // Distances are best low; precision and recall high.
    const bool higher_is_better = absl::EndsWith(metric.name, "_precision") ||
                                  absl::EndsWith(metric.name, "_recall");
    const MetricPoint* best = nullptr;
    for (const MetricPoint& p : metric.points) {
      series.x.push_back(p.kimg);
      series.y.push_back(p.value);
      if (std::isfinite(p.value) &&
          (best == nullptr || (higher_is_better ? p.value > best->value
                                                : p.value < best->value))) {
        best = &p;
      }
    }
    panel.series.push_back(std::move(series));
    if (best != nullptr) {
      panel.subtitle = absl::StrFormat("best %s at %g kimg",
                                       FormatValue(best->value), best->kimg);
      panel.markers.push_back(
          {best->kimg, best->value, kBestColor, FormatValue(best->value)});
    } else {
      panel.subtitle = "no finite values";
    }
    chart.panels.push_back(std::move(panel));
  }
  if (!curves.ticks.empty()) {
    plot::Panel loss;
    loss.title = "Losses";
    plot::Series g{"loss G", kLossGColor, {}, {}};
    plot::Series d{"loss D", kLossDColor, {}, {}};
    plot::Panel signs;
    signs.title = "D sign";
    signs.subtitle = "mean sign of D's logits";
    signs.y_min = -1;
    signs.y_max = 1;
    plot::Series fake{"fake", kSignsFakeColor, {}, {}};
    plot::Series real{"real", kSignsRealColor, {}, {}};
    for (const config::TickReport& t : curves.ticks) {
      for (plot::Series* s : {&g, &d, &fake, &real}) s->x.push_back(t.kimg);
      g.y.push_back(t.loss_g);
      d.y.push_back(t.loss_d);
      fake.y.push_back(t.sign_fake);
      real.y.push_back(t.sign_real);
    }
    loss.series = {std::move(g), std::move(d)};
    signs.series = {std::move(fake), std::move(real)};
    chart.panels.push_back(std::move(loss));
    chart.panels.push_back(std::move(signs));
  }
  return chart;
}

absl::StatusOr<std::string> RenderRunCurvesPng(const RunCurves& curves,
                                               int width, int height) {
  if (curves.ticks.empty() && curves.metrics.empty()) {
    return absl::FailedPreconditionError(
        "nothing to plot: no ticks and no metrics");
  }
  ASSIGN_OR_RETURN(Image image,
                   plot::RenderChart(RunCurvesChart(curves, width, height)));
  return EncodePng(image);
}

absl::Status RunPlot(const PlotOptions& options, std::ostream& out) {
  if (options.run_dir.empty()) {
    return absl::InvalidArgumentError("RUN_DIR: give a run directory");
  }
  ASSIGN_OR_RETURN(const RunCurves curves, ReadRunCurves(options.run_dir));
  auto png = RenderRunCurvesPng(curves, options.width, options.height);
  if (absl::IsInvalidArgument(png.status())) {
    // Size errors come from the chart; say which flags they are about.
    return absl::Status(
        png.status().code(),
        absl::StrCat("--width/--height: ", png.status().message()));
  }
  if (!png.ok()) return png.status();
  const std::string path =
      options.out.empty() ? (fs::path(options.run_dir) / "curves.png").string()
                          : options.out;
  RETURN_IF_ERROR(WriteFileAtomically(path, *png));

  std::vector<std::string> shows;
  if (!curves.ticks.empty()) {
    shows.push_back(absl::StrFormat("%d tick(s) to %g kimg",
                                    curves.ticks.size(),
                                    curves.ticks.back().kimg));
  }
  for (const MetricCurve& m : curves.metrics) {
    shows.push_back(absl::StrFormat("%s (%d)", m.name, m.points.size()));
  }
  out << "wrote " << path << ": " << absl::StrJoin(shows, ", ") << "\n";
  return absl::OkStatus();
}

}  // namespace pgan::tools
