// A training job as a file: the options of `pgan train` as a JSON object
// (the same names, with underscores: "batch_gpu", "feature_weights", ...),
// plus the communication settings of the worker. Unknown fields are errors,
// so a typo never silently falls back to a default. Functions only.
//
//   {"data": "data/photos-256.zip", "outdir": "runs", "cfg": "fastgan_lite",
//    "res": 256, "batch": 64, "batch_gpu": 16, "kimg": 10000,
//    "comm_timeout_s": 60, "bucket_mb": 1024}
#ifndef PGAN_WORKER_JOB_SPEC_H_
#define PGAN_WORKER_JOB_SPEC_H_

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "absl/status/statusor.h"
#include "trainer/training_config.h"
#include "worker/comm_process_group.h"
#include "worker/communicator.h"

namespace pgan::worker {

struct JobSpec {
  trainer::TrainingConfig training;
  // "latest", a run directory or a snapshot; empty for a new run.
  std::string resume;
  // A new run's directory as named (the coordinator's jobs); empty: a
  // numbered one under training.outdir. Not a job-file field.
  std::string run_dir;
  // Backend is chosen by the worker (MPI under mpirun, NCCL with
  // "backend": "nccl"); the timeout bounds every collective.
  comm::CommConfig comm;
  GradientSyncOptions sync;
  // "auto" (NCCL when the devices are GPUs and it is built, else MPI),
  // "mpi" or "nccl".
  std::string backend = "auto";

  nlohmann::json ToJson() const;
};

// Parses a job object; `source` (a file name) prefixes every error, which
// names the field and what was expected.
absl::StatusOr<JobSpec> ParseJobSpec(const nlohmann::json& json,
                                     const std::string& source);
absl::StatusOr<JobSpec> ReadJobFile(const std::string& path);

}  // namespace pgan::worker

#endif  // PGAN_WORKER_JOB_SPEC_H_
