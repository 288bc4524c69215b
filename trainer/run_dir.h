// Run directories and snapshot files on disk: naming as the reference
// (<outdir>/<5-digit id>-<cfg>-<dataset>-gpus<N>-batch<B>), finding the
// latest snapshot for --resume, and retention of old snapshots. Functions
// only; callers serialise access to one run directory.
#ifndef PGAN_TRAINER_RUN_DIR_H_
#define PGAN_TRAINER_RUN_DIR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pgan::trainer {

// Creates the next run directory under `outdir` and returns its path.
absl::StatusOr<std::string> CreateRunDir(const std::string& outdir,
                                         const std::string& description);

// The run directory under `outdir` named "<5 digits>-<description>", as the
// reference's --restart_every finds the run to continue: "" when there is
// none, FAILED_PRECONDITION naming them when there are several.
absl::StatusOr<std::string> FindRunDir(const std::string& outdir,
                                       const std::string& description);

// "snapshot-000123.safetensors" for 123.456 kimg (integer kimg, 6 digits).
std::string SnapshotFileName(int64_t cur_nimg);
std::string NetworkFileName(int64_t cur_nimg);

struct SnapshotFile {
  std::string path;
  int64_t kimg = 0;
};
// Snapshots of a run directory, oldest first.
std::vector<SnapshotFile> ListSnapshots(const std::string& run_dir);

// Resolves --resume: "latest" (the newest snapshot of the newest run under
// `outdir`), a run directory (its newest snapshot) or a snapshot file.
// "auto" is "latest" when there is one and otherwise "" (a fresh start):
// for a job that is restarted whole, such as a re-queued batch job.
absl::StatusOr<std::string> ResolveResume(const std::string& spec,
                                          const std::string& outdir);

// Deletes every snapshot (and its exported network file) of `run_dir`
// except the newest, `keep` (a snapshot path, e.g. the best by a metric)
// and, when `keep_every_kimg` > 0, the first snapshot at or past each
// multiple of it. Missing files are not errors.
void ApplyRetention(const std::string& run_dir, double keep_every_kimg,
                    const std::string& keep = "");

}  // namespace pgan::trainer

#endif  // PGAN_TRAINER_RUN_DIR_H_
