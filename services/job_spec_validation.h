// Validation of a submitted JobSpec (proto/pgan/v1/job.proto) before the
// coordinator accepts it: the training options by the trainer's own option
// table (config/, torch-free), the service's fields (name, resources,
// priority, restarts) by their rules, and every path confined to the
// configured roots. The first violation comes back as INVALID_ARGUMENT
// naming the field by its proto path, e.g. "training.batch: 30 is not
// divisible by the number of processes (4)". Pure functions.
#ifndef PGAN_SERVICES_JOB_SPEC_VALIDATION_H_
#define PGAN_SERVICES_JOB_SPEC_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pgan/v1/job.pb.h"

namespace pgan::services {

struct PathRoots {
  // Datasets and feature weights must lie under one of these.
  std::vector<std::string> data;
  // Output directories must lie under one of these.
  std::vector<std::string> output;
};

absl::Status ValidateJobSpec(const pgan::v1::JobSpec& spec,
                             const PathRoots& roots);

// `path` (absolute) resolved through existing symlinks and `..`, if it lies
// under one of `roots`; otherwise INVALID_ARGUMENT naming `field`.
absl::StatusOr<std::string> ConfinePath(const std::string& field,
                                        const std::string& path,
                                        const std::vector<std::string>& roots);

}  // namespace pgan::services

#endif  // PGAN_SERVICES_JOB_SPEC_VALIDATION_H_
