// A training job as a file: the options of `pgan train` as one JSON object,
// each under its flag's name with underscores ("batch_gpu",
// "feature_weights", "comm_timeout"; worker/README.md lists them, generated
// from the option table), plus "resume". Unknown fields are errors, so a
// typo never silently falls back to a default. Functions only.
//
//   {"data": "data/photos-256.zip", "outdir": "runs", "cfg": "fastgan_lite",
//    "res": 256, "batch": 64, "batch_gpu": 16, "kimg": 10000,
//    "metrics": ["fid50k_full"], "comm_timeout": 60}
#ifndef PGAN_WORKER_JOB_SPEC_H_
#define PGAN_WORKER_JOB_SPEC_H_

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "config/training_config.h"
#include "worker/comm_process_group.h"
#include "worker/communicator.h"

namespace pgan::worker {

struct JobSpec {
  config::TrainingConfig training;
  // "latest", "auto", a run directory or a snapshot; empty for a new run.
  std::string resume;
  // A new run's directory as named (the coordinator's jobs); empty: a
  // numbered one under training.outdir. Not a job-file field.
  std::string run_dir;
  // Where `training` came from, for messages naming its fields.
  config::Surface surface = config::Surface::kFlags;
  // This process's environment: the statistics cache of read-only dataset
  // folders (TrainerEnvironment::fallback_stats_cache). Not a job-file field.
  std::string fallback_stats_cache;

  // The communicator's settings (the backend is chosen by
  // MakeJobCommunicator) and the gradient sync's, from `training`.
  comm::CommConfig Comm() const;
  GradientSyncOptions Sync() const;

  // The job file of this job (every option explicit).
  nlohmann::json ToJson() const;
};

// Parses a job object. Fields are type-checked here and validated with the
// world size by the trainer; `source` (a file name) prefixes every error,
// which names the field and what was expected.
absl::StatusOr<JobSpec> ParseJobSpec(const nlohmann::json& json,
                                     const std::string& source);
absl::StatusOr<JobSpec> ReadJobFile(const std::string& path);

}  // namespace pgan::worker

#endif  // PGAN_WORKER_JOB_SPEC_H_
