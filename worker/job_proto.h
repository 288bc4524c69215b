// A coordinator's JobSpec (proto/pgan/v1/job.proto) as the worker's
// JobSpec and back, through config::FromProto/ToProto: every unset field at
// the default of `pgan train`. The coordinator validated the spec; the
// trainer validates the result again against the world size. Functions
// only.
#ifndef PGAN_WORKER_JOB_PROTO_H_
#define PGAN_WORKER_JOB_PROTO_H_

#include <string>

#include "absl/status/statusor.h"
#include "pgan/v1/job.pb.h"
#include "worker/job_spec.h"

namespace pgan::worker {

// The fields the coordinator supplies (outdir, device, ...: see
// config/fields.h) are left at their defaults for the caller to set.
absl::StatusOr<JobSpec> JobSpecFromProto(const pgan::v1::JobSpec& spec);

// The other way, for a gang of `world_size` processes started by mpirun
// that attaches itself to a coordinator: every training option explicit,
// paths absolute, the output directory as the spec's output_dir.
pgan::v1::JobSpec JobSpecToProto(const JobSpec& job, const std::string& name,
                                 int world_size, bool gpus);

}  // namespace pgan::worker

#endif  // PGAN_WORKER_JOB_PROTO_H_
