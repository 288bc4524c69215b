#include "trainer/run_dir.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace pgan::trainer {
namespace {

namespace fs = std::filesystem;

const std::regex& SnapshotPattern() {
  static const std::regex pattern(R"(snapshot-(\d{6,})\.safetensors)");
  return pattern;
}

}  // namespace

absl::StatusOr<std::string> CreateRunDir(const std::string& outdir,
                                         const std::string& description) {
  std::error_code ec;
  fs::create_directories(outdir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("--outdir ", outdir, ": cannot create: ", ec.message()));
  }
  int next_id = 0;
  for (const auto& entry : fs::directory_iterator(outdir, ec)) {
    const std::string name = entry.path().filename().string();
    int id = 0;
    if (entry.is_directory() && name.size() > 5 &&
        absl::SimpleAtoi(name.substr(0, 5), &id)) {
      next_id = std::max(next_id, id + 1);
    }
  }
  for (;; ++next_id) {
    const fs::path dir =
        fs::path(outdir) / absl::StrFormat("%05d-%s", next_id, description);
    // create_directory fails if it exists: another run took the id.
    if (fs::create_directory(dir, ec)) return dir.string();
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
    }
  }
}

absl::StatusOr<std::string> FindRunDir(const std::string& outdir,
                                       const std::string& description) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(outdir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.size() == 6 + description.size() &&
        std::all_of(name.begin(), name.begin() + 5, absl::ascii_isdigit) &&
        name[5] == '-' && name.compare(6, std::string::npos, description) == 0) {
      found.push_back(entry.path().string());
    }
  }
  // A missing outdir has no runs yet.
  if (found.size() <= 1) return found.empty() ? std::string() : found[0];
  std::sort(found.begin(), found.end());
  return absl::FailedPreconditionError(absl::StrCat(
      "--restart-every continues the run directory named *-", description,
      " under ", outdir, ", and there are ", found.size(), ": ",
      absl::StrJoin(found, ", "),
      "; give --desc to tell them apart, or --resume one of them"));
}

std::string SnapshotFileName(int64_t cur_nimg) {
  return absl::StrFormat("snapshot-%06d.safetensors", cur_nimg / 1000);
}

std::string NetworkFileName(int64_t cur_nimg) {
  return absl::StrFormat("network-snapshot-%06d.safetensors", cur_nimg / 1000);
}

std::vector<SnapshotFile> ListSnapshots(const std::string& run_dir) {
  std::vector<SnapshotFile> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, SnapshotPattern())) {
      SnapshotFile file{entry.path().string(), 0};
      absl::SimpleAtoi(m[1].str(), &file.kimg);
      out.push_back(file);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const SnapshotFile& a, const SnapshotFile& b) {
              return a.kimg != b.kimg ? a.kimg < b.kimg : a.path < b.path;
            });
  return out;
}

absl::StatusOr<std::string> ResolveResume(const std::string& spec,
                                          const std::string& outdir) {
  std::error_code ec;
  if (spec == "auto") {
    absl::StatusOr<std::string> latest = ResolveResume("latest", outdir);
    if (absl::IsNotFound(latest.status())) return std::string();
    return latest;
  }
  if (spec == "latest") {
    std::vector<std::string> runs;
    for (const auto& entry : fs::directory_iterator(outdir, ec)) {
      if (entry.is_directory()) runs.push_back(entry.path().string());
    }
    std::sort(runs.rbegin(), runs.rend());
    for (const std::string& run : runs) {
      const auto snapshots = ListSnapshots(run);
      if (!snapshots.empty()) return snapshots.back().path;
    }
    return absl::NotFoundError(absl::StrCat(
        "--resume latest: no run directory under ", outdir, " has a snapshot"));
  }
  if (fs::is_directory(spec, ec)) {
    const auto snapshots = ListSnapshots(spec);
    if (snapshots.empty()) {
      return absl::NotFoundError(absl::StrCat(
          "--resume ", spec, ": the run directory has no snapshot"));
    }
    return snapshots.back().path;
  }
  if (fs::is_regular_file(spec, ec)) return spec;
  return absl::NotFoundError(absl::StrCat(
      "--resume ", spec,
      ": expected latest, auto, a run directory or a snapshot file"));
}

void ApplyRetention(const std::string& run_dir, double keep_every_kimg,
                    const std::string& keep_path) {
  const std::vector<SnapshotFile> snapshots = ListSnapshots(run_dir);
  int64_t last_bucket = -1;
  for (size_t i = 0; i < snapshots.size(); ++i) {
    const SnapshotFile& s = snapshots[i];
    bool keep = i + 1 == snapshots.size() ||
                (!keep_path.empty() &&
                 fs::path(s.path).filename() == fs::path(keep_path).filename());
    if (keep_every_kimg > 0) {
      const auto bucket =
          static_cast<int64_t>(std::floor(s.kimg / keep_every_kimg));
      if (bucket > last_bucket) {
        keep = true;
        last_bucket = bucket;
      }
    }
    if (keep) continue;
    std::error_code ec;
    fs::remove(s.path, ec);
    fs::remove(fs::path(run_dir) /
                   absl::StrFormat("network-snapshot-%06d.safetensors", s.kimg),
               ec);
  }
}

}  // namespace pgan::trainer
